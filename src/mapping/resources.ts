/**
 * LinuxContainerResources on Porto, and back (ContainerStatus.resources).
 *
 *   cpu_shares      -> cpu_guarantee = shares / 1024 cores. Porto writes the
 *                      cgroup's cpu.shares as max(2, 1024 x guarantee) x cpu_weight
 *                      (TCpuSubsystem::SetShares, cgroup v1; cpu.weight scaled the
 *                      same way on v2), so with cpu_weight left at 1 the cgroup gets
 *                      exactly kubelet's shares. cpu_weight cannot do it: it is
 *                      0.01..100 over a base of 2 shares when there is no guarantee,
 *                      and portod also renices the tasks by it ("-1 nice is +10%").
 *   cpu_quota/period-> cpu_limit = quota / period cores, cpu_period = period in ns.
 *   cpuset_cpus     -> cpu_set {policy "set", list}.
 *   memory_limit    -> memory_limit (portod refuses less than 1 MiB).
 *   oom_score_adj   -> oom_score_adj, raised to `minOomScoreAdj`: where root
 *                      lacks CAP_SYS_RESOURCE (this VM) portod cannot write a
 *                      negative value and the start fails, so kubelet's -997 for
 *                      Guaranteed pods becomes 0 there (the default minimum).
 *   hugepage_limits -> hugetlb_limit, which is Porto's 2MB-page limit; setting it
 *                      also forbids 1GB pages. 0 in Porto means "no limit", so a
 *                      2MB limit of 0 is sent as 1 byte, which the kernel rounds
 *                      down to zero pages.
 *
 * Not enforced (reported in warnings): cpuset_mems (Porto has node policies
 * only), memory_swap_limit_in_bytes (no swap limit in Porto), unified (raw
 * cgroup v2 files; Porto uses v1 here), 1GB hugepage limits.
 */
import { clone, create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { TContainerSpec } from "../../gen/rpc_pb.js";
import { LinuxContainerResourcesSchema } from "../../gen/runtime/v1/api_pb.js";
import type { LinuxContainerResources, LinuxPodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import type { SpecFields } from "./spec-fields.js";

export type ResourcesInit = MessageInitShape<typeof LinuxContainerResourcesSchema>;

/** cpu.shares of one CPU in cgroup v1: kubelet's shares are 1024 per requested core. */
export const SHARES_PER_CPU = 1024;
/** CFS period kubelet and the kernel use by default, in microseconds. */
export const DEFAULT_CPU_PERIOD_US = 100_000;
/** portod's min_memory_limit default. */
export const MIN_MEMORY_LIMIT = 1n << 20n;

export interface ResourceOptions {
  /** Prefix of field names in errors, e.g. "linux.resources". */
  field: string;
  /** Lowest oom_score_adj portod can set on this node; 0 where root lacks CAP_SYS_RESOURCE. Default 0. */
  minOomScoreAdj?: number;
}

export interface ResourceSpec {
  /** The Porto properties to set; only the ones CRI asked for. */
  spec: SpecFields;
  warnings: string[];
}

/** Porto resource properties for `r`; InvalidArgument naming the field for values Porto or the kernel refuse. */
export function resourcesSpec(r: LinuxContainerResources | undefined, options: ResourceOptions): ResourceSpec {
  const spec: SpecFields = {};
  const warnings: string[] = [];
  if (!r) return { spec, warnings };
  const f = options.field;

  if (r.cpuShares < 0n) throw invalid(`${f}.cpu_shares`, `${r.cpuShares} is negative`);
  if (r.cpuShares > 0n) spec.cpuGuarantee = Number(r.cpuShares) / SHARES_PER_CPU;

  if (r.cpuPeriod !== 0n && (r.cpuPeriod < 1000n || r.cpuPeriod > 1_000_000n))
    throw invalid(`${f}.cpu_period`, `${r.cpuPeriod} us is outside 1000..1000000`);
  const periodUs = r.cpuPeriod > 0n ? Number(r.cpuPeriod) : DEFAULT_CPU_PERIOD_US;
  if (r.cpuPeriod > 0n) spec.cpuPeriod = BigInt(periodUs) * 1000n;
  if (r.cpuQuota > 0n) {
    if (r.cpuQuota < 1000n) throw invalid(`${f}.cpu_quota`, `${r.cpuQuota} us is below the kernel's 1000`);
    spec.cpuLimit = Number(r.cpuQuota) / periodUs;
    spec.cpuPeriod = BigInt(periodUs) * 1000n;
  }

  if (r.cpusetCpus !== "") {
    if (!/^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/.test(r.cpusetCpus))
      throw invalid(`${f}.cpuset_cpus`, `${JSON.stringify(r.cpusetCpus)} is not a CPU list`);
    spec.cpuSet = { policy: "set", list: r.cpusetCpus };
  }
  if (r.cpusetMems !== "") warnings.push(`${f}.cpuset_mems: not supported by Porto, ignored`);

  if (r.memoryLimitInBytes < 0n) throw invalid(`${f}.memory_limit_in_bytes`, `${r.memoryLimitInBytes} is negative`);
  if (r.memoryLimitInBytes > 0n) {
    if (r.memoryLimitInBytes < MIN_MEMORY_LIMIT)
      throw invalid(`${f}.memory_limit_in_bytes`, `Porto needs at least ${MIN_MEMORY_LIMIT} bytes`);
    spec.memoryLimit = BigInt(r.memoryLimitInBytes);
  }
  if (r.memorySwapLimitInBytes > 0n && r.memorySwapLimitInBytes !== r.memoryLimitInBytes)
    warnings.push(`${f}.memory_swap_limit_in_bytes: Porto has no swap limit, ignored`);

  if (r.oomScoreAdj < -1000n || r.oomScoreAdj > 1000n) throw invalid(`${f}.oom_score_adj`, `${r.oomScoreAdj} is outside -1000..1000`);
  const min = options.minOomScoreAdj ?? 0;
  const adj = Number(r.oomScoreAdj);
  spec.oomScoreAdj = Math.max(adj, min);
  if (adj < min) warnings.push(`${f}.oom_score_adj: ${adj} raised to ${min}, the lowest portod can set on this node`);

  const huge = hugetlbLimit(r, f);
  if (huge.limit !== undefined) spec.hugetlbLimit = huge.limit;
  warnings.push(...huge.warnings);

  if (Object.keys(r.unified).length > 0) warnings.push(`${f}.unified: raw cgroup v2 settings are not supported by Porto, ignored`);
  return { spec, warnings };
}

/** "2MB", "1GB", "64KB" (1024-based, as kubelet and the hugetlb cgroup name them) in bytes; undefined when malformed. */
export function pageSizeBytes(s: string): number | undefined {
  const m = /^([0-9]+)(KB|MB|GB)$/.exec(s);
  if (!m) return undefined;
  return Number(m[1]) * { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as "KB" | "MB" | "GB"];
}

const TWO_MB = 2 * 1024 ** 2;

function hugetlbLimit(r: LinuxContainerResources, f: string): { limit?: bigint; warnings: string[] } {
  let twoMb: bigint | undefined;
  const warnings: string[] = [];
  for (const [i, h] of r.hugepageLimits.entries()) {
    const size = pageSizeBytes(h.pageSize);
    if (size === undefined) throw invalid(`${f}.hugepage_limits[${i}].page_size`, `${JSON.stringify(h.pageSize)} is not a page size`);
    if (size === TWO_MB) twoMb = h.limit;
    else if (h.limit > 0n) {
      // Porto's hugetlb_limit would forbid these pages: rather no limit than no pages.
      warnings.push(`${f}.hugepage_limits[${i}]: Porto limits only 2MB pages; ${h.pageSize} pages are left unlimited, and so are 2MB pages`);
      return { warnings };
    }
  }
  if (twoMb === undefined) return { warnings };
  return { limit: twoMb > 0n ? twoMb : 1n, warnings };
}

function addOptional(a: bigint, b: bigint): bigint {
  return a > 0n ? a + (b > 0n ? b : 0n) : 0n;
}

/**
 * The pod's own limits: the containers' total (`resources`) plus the
 * RuntimeClass overhead. A limit the total does not have (0) stays unlimited;
 * the overhead alone never creates one.
 */
export function podResources(linux: LinuxPodSandboxConfig | undefined): LinuxContainerResources | undefined {
  const r = linux?.resources;
  const o = linux?.overhead;
  if (!r) return undefined;
  if (!o) return r;
  const period = r.cpuPeriod > 0n ? r.cpuPeriod : BigInt(DEFAULT_CPU_PERIOD_US);
  const oPeriod = o.cpuPeriod > 0n ? o.cpuPeriod : BigInt(DEFAULT_CPU_PERIOD_US);
  const sizes = new Map<string, bigint>();
  for (const h of r.hugepageLimits) sizes.set(h.pageSize, h.limit);
  for (const h of o.hugepageLimits) if (sizes.has(h.pageSize) && sizes.get(h.pageSize)! > 0n) sizes.set(h.pageSize, sizes.get(h.pageSize)! + h.limit);
  return {
    ...r,
    cpuShares: r.cpuShares + o.cpuShares,
    // The overhead's quota converted to the pod's period.
    cpuQuota: addOptional(r.cpuQuota, o.cpuQuota > 0n ? (o.cpuQuota * period) / oPeriod : 0n),
    memoryLimitInBytes: addOptional(r.memoryLimitInBytes, o.memoryLimitInBytes),
    hugepageLimits: [...sizes].map(([pageSize, limit]) => ({ pageSize, limit }) as LinuxContainerResources["hugepageLimits"][number]),
  };
}

/**
 * UpdateContainerResources as containerd applies it: each field the update
 * sets (non-zero, non-empty) replaces the current one, a field left at zero
 * keeps its value, and oom_score_adj never changes after creation.
 */
export function mergeResources(current: LinuxContainerResources | undefined, update: LinuxContainerResources): LinuxContainerResources {
  const merged = current ? clone(LinuxContainerResourcesSchema, current) : create(LinuxContainerResourcesSchema);
  if (update.cpuPeriod !== 0n) merged.cpuPeriod = update.cpuPeriod;
  if (update.cpuQuota !== 0n) merged.cpuQuota = update.cpuQuota;
  if (update.cpuShares !== 0n) merged.cpuShares = update.cpuShares;
  if (update.memoryLimitInBytes !== 0n) merged.memoryLimitInBytes = update.memoryLimitInBytes;
  if (update.memorySwapLimitInBytes !== 0n) merged.memorySwapLimitInBytes = update.memorySwapLimitInBytes;
  if (update.cpusetCpus !== "") merged.cpusetCpus = update.cpusetCpus;
  if (update.cpusetMems !== "") merged.cpusetMems = update.cpusetMems;
  if (update.hugepageLimits.length > 0) merged.hugepageLimits = update.hugepageLimits;
  if (Object.keys(update.unified).length > 0) merged.unified = { ...merged.unified, ...update.unified };
  return merged;
}

/**
 * The Porto properties that take a created or running container from
 * resources `from` (what it was created or last updated with) to `to`: only
 * dynamic ones (portod refuses oom_score_adj outside the stopped state), and
 * only those that change, a removed limit sent as "none". Unchanged ones are
 * left out because portod refuses to touch a CPU property at all on a
 * container created without CPU settings (`NotSupported: Cannot enable
 * controllers in runtime`), even to write the value it already has; a
 * memory-only resize must not trip over that. One UpdateFromSpec applies
 * them all or none (portod restores the old values when one is refused).
 */
export function dynamicResourcesUpdate(
  from: LinuxContainerResources | undefined,
  to: LinuxContainerResources | undefined,
  options: ResourceOptions,
): ResourceSpec {
  const before = resourcesSpec(from, options).spec;
  const { spec: after, warnings } = resourcesSpec(to, options);
  const none: SpecFields = { cpuGuarantee: 0, cpuLimit: 0, memoryLimit: 0n, cpuPeriod: BigInt(DEFAULT_CPU_PERIOD_US) * 1000n, hugetlbLimit: 0n };
  const spec: SpecFields = {};
  for (const key of DYNAMIC_FIELDS) {
    const next = after[key] ?? (key === "cpuSet" ? { policy: "inherit" } : none[key]);
    const prev = before[key] ?? (key === "cpuSet" ? { policy: "inherit" } : none[key]);
    if (JSON.stringify(next, bigints) !== JSON.stringify(prev, bigints)) (spec as Record<string, unknown>)[key] = next;
  }
  return { spec, warnings };
}

/** Resource properties portod changes on a running container. */
const DYNAMIC_FIELDS = ["cpuGuarantee", "cpuLimit", "cpuPeriod", "cpuSet", "memoryLimit", "hugetlbLimit"] as const;

function bigints(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * ContainerStatus.resources from what Porto reports: the inverse of
 * resourcesSpec for every value it set (shares, quota, period, cpuset,
 * memory, oom_score_adj, the 2MB hugepage limit).
 */
export function resourcesFromSpec(spec: TContainerSpec): ResourcesInit {
  const periodUs = spec.cpuPeriod > 0n ? spec.cpuPeriod / 1000n : BigInt(DEFAULT_CPU_PERIOD_US);
  const out: ResourcesInit = {
    cpuPeriod: periodUs,
    cpuQuota: spec.cpuLimit > 0 ? BigInt(Math.round(spec.cpuLimit * Number(periodUs))) : 0n,
    cpuShares: spec.cpuGuarantee > 0 ? BigInt(Math.round(spec.cpuGuarantee * SHARES_PER_CPU)) : 0n,
    memoryLimitInBytes: spec.memoryLimit,
    oomScoreAdj: BigInt(spec.oomScoreAdj),
  };
  if (spec.cpuSet?.policy === "set") out.cpusetCpus = spec.cpuSet.list || spec.cpuSet.cpu.join(",");
  if (spec.hugetlbLimit > 0n)
    out.hugepageLimits = [{ pageSize: "2MB", limit: spec.hugetlbLimit === 1n ? 0n : spec.hugetlbLimit }];
  return out;
}

function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}
