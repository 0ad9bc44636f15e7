/**
 * Resource usage as CRI reports it, from what Porto and the kernel give: the
 * arithmetic of ContainerStats and PodSandboxStats, with no I/O.
 *
 * Where the figures come from (portod 5.3.59, cgroup v1 here):
 *   cpu_usage, cpu_usage_system   cpuacct, nanoseconds, cumulative
 *   memory_usage                  memory.usage_in_bytes (cgroup v2: memory.current)
 *   memory.stat                   the cgroup's own file; `total_*` keys are the
 *                                 hierarchy's (v1), plain keys on v2
 *   memory_limit                  the container's own limit, 0 = none
 *   process_count, thread_count   tasks in the container's cgroups
 *   /proc/<pid>/net/dev           per-interface counters of the pod's network
 *                                 namespace: portod leaves net_rx_bytes/net_tx_bytes
 *                                 empty for a pod in a namespace it does not manage
 *
 * Definitions follow cAdvisor and containerd, which kubelet was written against:
 * working set = usage - inactive_file (0 when inactive_file is larger), RSS =
 * total_rss (anon on v2), available = limit - working set only when there is a
 * limit, page faults from memory.stat's pgfault/pgmajfault.
 */
import { create } from "@bufbuild/protobuf";
import {
  CpuUsageSchema,
  FilesystemIdentifierSchema,
  FilesystemUsageSchema,
  MemoryUsageSchema,
  NetworkInterfaceUsageSchema,
  NetworkUsageSchema,
  ProcessUsageSchema,
  UInt64ValueSchema,
} from "../../gen/runtime/v1/api_pb.js";
import type {
  CpuUsage,
  FilesystemUsage,
  MemoryUsage,
  NetworkInterfaceUsage,
  NetworkUsage,
  ProcessUsage,
  UInt64Value,
} from "../../gen/runtime/v1/api_pb.js";

/** Porto properties one batched `get` asks of every container and pod for ContainerStats and PodSandboxStats. */
export const USAGE_PROPERTIES = ["state", "cpu_usage", "memory_usage", "memory.stat", "memory_limit", "process_count"] as const;

/** Asked besides for the metrics calls: the figures only cAdvisor's series carry. */
export const METRIC_PROPERTIES = ["cpu_usage_system", "thread_count", "oom_kills", "cpu_limit", "cpu_guarantee", "cpu_period"] as const;

/** Asked of pods: whose /proc/<pid>/net/dev shows the pod's interfaces. */
export const POD_PROPERTIES = ["root_pid"] as const;

/** What Porto said about one container; a figure portod could not give is absent. */
export interface PortoUsage {
  state: string;
  cpuUsageNs?: bigint;
  cpuSystemNs?: bigint;
  memoryUsage?: bigint;
  memoryStat?: Map<string, bigint>;
  /** The container's own limit; 0 = none. */
  memoryLimit?: bigint;
  processCount?: bigint;
  threadCount?: bigint;
  oomKills?: bigint;
  cpuLimitCores?: number;
  cpuGuaranteeCores?: number;
  cpuPeriodNs?: bigint;
  rootPid?: number;
}

/** One interface's counters from /proc/net/dev. */
export interface InterfaceCounters {
  name: string;
  rxBytes: bigint;
  rxPackets: bigint;
  rxErrors: bigint;
  rxDropped: bigint;
  txBytes: bigint;
  txPackets: bigint;
  txErrors: bigint;
  txDropped: bigint;
}

/** A decimal unsigned integer, or undefined for anything else ("", "-1", "1.5"). */
export function parseUint(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return /^[0-9]+$/.test(t) ? BigInt(t) : undefined;
}

/** Porto's CPU power, "1.5c" (cores) or a bare number of cores; undefined when malformed. */
export function parseCores(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)c?\s*$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** memory.stat's "key value" lines. */
export function parseMemoryStat(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [key, value, extra] = line.trim().split(/\s+/);
    const n = parseUint(value);
    if (key && n !== undefined && extra === undefined) out.set(key, n);
  }
  return out;
}

/** The values a `get` returned for one container (properties portod refused are left out). */
export function portoUsage(values: ReadonlyMap<string, string>): PortoUsage {
  const u: PortoUsage = { state: values.get("state") ?? "" };
  const uint = (p: string) => parseUint(values.get(p));
  u.cpuUsageNs = uint("cpu_usage");
  u.cpuSystemNs = uint("cpu_usage_system");
  u.memoryUsage = uint("memory_usage");
  const stat = values.get("memory.stat");
  if (stat !== undefined) u.memoryStat = parseMemoryStat(stat);
  u.memoryLimit = uint("memory_limit");
  u.processCount = uint("process_count");
  u.threadCount = uint("thread_count");
  u.oomKills = uint("oom_kills");
  u.cpuLimitCores = parseCores(values.get("cpu_limit"));
  u.cpuGuaranteeCores = parseCores(values.get("cpu_guarantee"));
  u.cpuPeriodNs = uint("cpu_period");
  const pid = uint("root_pid");
  if (pid !== undefined && pid > 0n) u.rootPid = Number(pid);
  for (const k of Object.keys(u) as (keyof PortoUsage)[]) if (u[k] === undefined) delete u[k];
  return u;
}

/** A memory.stat figure for the whole hierarchy: `total_<key>` on cgroup v1, `<key>` on v2. */
export function statValue(stat: ReadonlyMap<string, bigint> | undefined, key: string): bigint | undefined {
  return stat?.get(`total_${key}`) ?? stat?.get(key);
}

/** Memory figures as cAdvisor defines them. */
export interface MemoryFigures {
  usageBytes: bigint;
  workingSetBytes: bigint;
  /** Limit minus working set; undefined without a limit. */
  availableBytes?: bigint;
  rssBytes?: bigint;
  pageFaults?: bigint;
  majorPageFaults?: bigint;
  cacheBytes?: bigint;
  mappedFileBytes?: bigint;
  swapBytes?: bigint;
}

/** Usage minus inactive file cache, never below zero (cAdvisor's working set). */
export function workingSet(usage: bigint, inactiveFile: bigint | undefined): bigint {
  const inactive = inactiveFile ?? 0n;
  return inactive < usage ? usage - inactive : 0n;
}

/** A limit this large means "none" to cgroups (they round 2^63-1 down to a page); as cAdvisor. */
const UNLIMITED_FROM = 1n << 62n;

/** Limit minus working set when there is a limit; a working set above it gives 0. */
export function availableBytes(limit: bigint | undefined, workingSetBytes: bigint): bigint | undefined {
  if (limit === undefined || limit === 0n || limit >= UNLIMITED_FROM) return undefined;
  return limit > workingSetBytes ? limit - workingSetBytes : 0n;
}

/** The memory figures of one sample; undefined when Porto gave no usage (not running). */
export function memoryFigures(u: PortoUsage): MemoryFigures | undefined {
  if (u.memoryUsage === undefined) return undefined;
  const stat = u.memoryStat;
  const ws = workingSet(u.memoryUsage, statValue(stat, "inactive_file"));
  const out: MemoryFigures = { usageBytes: u.memoryUsage, workingSetBytes: ws };
  const available = availableBytes(u.memoryLimit, ws);
  if (available !== undefined) out.availableBytes = available;
  // cgroup v2 has no rss: anon is what cAdvisor reports there.
  const rss = statValue(stat, "rss") ?? stat?.get("anon");
  if (rss !== undefined) out.rssBytes = rss;
  // Porto's minor_faults would be pgfault - pgmajfault; CRI's page_faults counts all of them.
  const faults = statValue(stat, "pgfault");
  if (faults !== undefined) out.pageFaults = faults;
  const major = statValue(stat, "pgmajfault");
  if (major !== undefined) out.majorPageFaults = major;
  const cache = statValue(stat, "cache") ?? stat?.get("file");
  if (cache !== undefined) out.cacheBytes = cache;
  const mapped = statValue(stat, "mapped_file") ?? stat?.get("file_mapped");
  if (mapped !== undefined) out.mappedFileBytes = mapped;
  const swap = statValue(stat, "swap");
  if (swap !== undefined) out.swapBytes = swap;
  return out;
}

/**
 * /proc/<pid>/net/dev: every interface but loopback (as containerd, which
 * lists the pod's links without `lo`), in the file's order.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(parseUint);
    // Header lines have a `|` before any colon and fail here.
    if (name === "" || name.includes("|") || f.length < 16 || f.some((v) => v === undefined)) continue;
    if (name === "lo") continue;
    const n = f as bigint[];
    out.push({
      name,
      rxBytes: n[0],
      rxPackets: n[1],
      rxErrors: n[2],
      rxDropped: n[3],
      txBytes: n[8],
      txPackets: n[9],
      txErrors: n[10],
      txDropped: n[11],
    });
  }
  return out;
}

/** The interface CRI calls the default one: eth0, else the first (containerd's choice). */
export function defaultInterface(ifaces: readonly InterfaceCounters[]): InterfaceCounters | undefined {
  return ifaces.find((i) => i.name === "eth0") ?? ifaces[0];
}

/** A cumulative CPU counter at an instant (Unix nanoseconds). */
export interface CpuSample {
  usageNs: bigint;
  atNs: bigint;
}

/**
 * Average use between two samples in nano-cores (1e9 = one core busy the
 * whole time); undefined when the interval is empty or the counter went back
 * (the container was restarted, or the sample is of something else).
 */
export function nanoCores(from: CpuSample, to: CpuSample): bigint | undefined {
  const dt = to.atNs - from.atNs;
  if (dt <= 0n || to.usageNs < from.usageNs) return undefined;
  return ((to.usageNs - from.usageNs) * 1_000_000_000n) / dt;
}

/**
 * Which earlier sample a rate at `nowNs` is computed against: the newest one
 * at least `minWindowNs` old, so that two callers polling close together (kubelet
 * and crictl) do not shrink each other's window to nothing. Samples are oldest
 * first; undefined when none is old enough.
 */
export function rateReference(samples: readonly CpuSample[], nowNs: bigint, minWindowNs: bigint): CpuSample | undefined {
  for (let i = samples.length - 1; i >= 0; i--) {
    if (nowNs - samples[i].atNs >= minWindowNs) return samples[i];
  }
  return undefined;
}

/** CPU shares Porto gives the cgroup for a guarantee (cgroup v1: max(2, 1024 x cores)). */
export function sharesOf(guaranteeCores: number): bigint {
  return BigInt(Math.max(2, Math.round(guaranteeCores * 1024)));
}

/** CFS quota in microseconds for a limit in cores over a period in ns; undefined without a limit. */
export function quotaOf(limitCores: number, periodNs: bigint): bigint | undefined {
  if (limitCores <= 0) return undefined;
  return BigInt(Math.round(limitCores * Number(periodNs / 1000n)));
}

// ---- CRI messages

function u64(value: bigint | undefined): UInt64Value | undefined {
  return value === undefined ? undefined : create(UInt64ValueSchema, { value });
}

/** CpuUsage at `atNs`; undefined when Porto gave no cpu_usage (not running). */
export function cpuUsageOf(u: PortoUsage, atNs: bigint, usageNanoCores?: bigint): CpuUsage | undefined {
  if (u.cpuUsageNs === undefined) return undefined;
  return create(CpuUsageSchema, {
    timestamp: atNs,
    usageCoreNanoSeconds: u64(u.cpuUsageNs),
    usageNanoCores: u64(usageNanoCores),
  });
}

/** MemoryUsage at `atNs`; undefined when Porto gave no memory_usage. */
export function memoryUsageOf(u: PortoUsage, atNs: bigint): MemoryUsage | undefined {
  const m = memoryFigures(u);
  if (!m) return undefined;
  return create(MemoryUsageSchema, {
    timestamp: atNs,
    workingSetBytes: u64(m.workingSetBytes),
    // containerd reports 0 rather than nothing when there is no limit; kubelet reads both as "no figure".
    availableBytes: u64(m.availableBytes ?? 0n),
    usageBytes: u64(m.usageBytes),
    rssBytes: u64(m.rssBytes),
    pageFaults: u64(m.pageFaults),
    majorPageFaults: u64(m.majorPageFaults),
  });
}

/** ProcessUsage at `atNs`; undefined when Porto gave no process_count. */
export function processUsageOf(u: PortoUsage, atNs: bigint): ProcessUsage | undefined {
  if (u.processCount === undefined) return undefined;
  return create(ProcessUsageSchema, { timestamp: atNs, processCount: u64(u.processCount) });
}

function interfaceUsage(i: InterfaceCounters): NetworkInterfaceUsage {
  return create(NetworkInterfaceUsageSchema, {
    name: i.name,
    rxBytes: u64(i.rxBytes),
    rxErrors: u64(i.rxErrors),
    txBytes: u64(i.txBytes),
    txErrors: u64(i.txErrors),
  });
}

/** NetworkUsage of a pod's namespace: every interface but lo, eth0 (or the first) as the default. */
export function networkUsageOf(ifaces: readonly InterfaceCounters[], atNs: bigint): NetworkUsage {
  const d = defaultInterface(ifaces);
  return create(NetworkUsageSchema, {
    timestamp: atNs,
    defaultInterface: d ? interfaceUsage(d) : undefined,
    interfaces: ifaces.map(interfaceUsage),
  });
}

/** A writable layer's usage, measured at `atNs`, on the filesystem holding `mountpoint`. */
export interface LayerFigures {
  bytes: bigint;
  inodes: bigint;
  atNs: bigint;
  mountpoint: string;
}

export function filesystemUsageOf(layer: LayerFigures): FilesystemUsage {
  return create(FilesystemUsageSchema, {
    timestamp: layer.atNs,
    fsId: create(FilesystemIdentifierSchema, { mountpoint: layer.mountpoint }),
    usedBytes: u64(layer.bytes),
    inodesUsed: u64(layer.inodes),
  });
}
