import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { TContainerSpecSchema } from "../../gen/rpc_pb.js";
import { LinuxContainerResourcesSchema, LinuxPodSandboxConfigSchema } from "../../gen/runtime/v1/api_pb.js";
import { dynamicResourcesUpdate, mergeResources, pageSizeBytes, podResources, resourcesFromSpec, resourcesSpec } from "../../src/mapping/resources.js";
import { throwsCode } from "./helpers.js";

type Init = Parameters<typeof create<typeof LinuxContainerResourcesSchema>>[1];
const res = (init: Init) => create(LinuxContainerResourcesSchema, init);
const F = { field: "linux.resources" };

test("no resources: nothing set", () => {
  assert.deepEqual(resourcesSpec(undefined, F), { spec: {}, warnings: [] });
});

test("resources map onto Porto properties", () => {
  const table: [string, Init, object][] = [
    ["shares -> guarantee in cores", { cpuShares: 512n }, { cpuGuarantee: 0.5, oomScoreAdj: 0 }],
    ["minimum shares", { cpuShares: 2n }, { cpuGuarantee: 2 / 1024, oomScoreAdj: 0 }],
    ["quota/period -> limit and period in ns", { cpuQuota: 50_000n, cpuPeriod: 100_000n }, { cpuLimit: 0.5, cpuPeriod: 100_000_000n, oomScoreAdj: 0 }],
    ["quota without period: 100 ms", { cpuQuota: 250_000n }, { cpuLimit: 2.5, cpuPeriod: 100_000_000n, oomScoreAdj: 0 }],
    ["period without quota: period only", { cpuPeriod: 50_000n, cpuQuota: -1n }, { cpuPeriod: 50_000_000n, oomScoreAdj: 0 }],
    ["cpuset", { cpusetCpus: "0-3,8" }, { cpuSet: { policy: "set", list: "0-3,8" }, oomScoreAdj: 0 }],
    ["memory", { memoryLimitInBytes: 128n << 20n, memorySwapLimitInBytes: 128n << 20n }, { memoryLimit: 128n << 20n, oomScoreAdj: 0 }],
    ["oom_score_adj positive", { oomScoreAdj: 999n }, { oomScoreAdj: 999 }],
    ["hugepages 2MB limit", { hugepageLimits: [{ pageSize: "2MB", limit: 4n << 20n }, { pageSize: "1GB", limit: 0n }] }, { hugetlbLimit: 4n << 20n, oomScoreAdj: 0 }],
    ["hugepages 2MB zero: 1 byte", { hugepageLimits: [{ pageSize: "2MB", limit: 0n }] }, { hugetlbLimit: 1n, oomScoreAdj: 0 }],
  ];
  for (const [name, init, want] of table) {
    const { spec } = resourcesSpec(res(init), F);
    assert.deepEqual(spec, want, name);
  }
});

test("oom_score_adj below the node's minimum is raised, with a warning", () => {
  const r = resourcesSpec(res({ oomScoreAdj: -997n }), F);
  assert.equal(r.spec.oomScoreAdj, 0);
  assert.match(r.warnings.join(), /-997 raised to 0/);
  assert.equal(resourcesSpec(res({ oomScoreAdj: -997n }), { ...F, minOomScoreAdj: -1000 }).spec.oomScoreAdj, -997);
  assert.equal(resourcesSpec(res({ oomScoreAdj: 5n }), { ...F, minOomScoreAdj: 10 }).spec.oomScoreAdj, 10);
});

test("what Porto cannot enforce is left unset and reported", () => {
  const r = resourcesSpec(
    res({
      cpusetMems: "0",
      memoryLimitInBytes: 1n << 30n,
      memorySwapLimitInBytes: 2n << 30n,
      unified: { "memory.high": "1" },
      hugepageLimits: [{ pageSize: "2MB", limit: 0n }, { pageSize: "1GB", limit: 1n << 30n }],
    }),
    F,
  );
  assert.equal(r.spec.hugetlbLimit, undefined, "1GB pages asked: no hugetlb limit at all rather than forbidding them");
  assert.equal(r.spec.cpuSet, undefined);
  assert.deepEqual(
    r.warnings.map((w) => w.split(":")[0]),
    ["linux.resources.cpuset_mems", "linux.resources.memory_swap_limit_in_bytes", "linux.resources.hugepage_limits[1]", "linux.resources.unified"],
  );
});

test("resource errors name the field", () => {
  const t = (init: Init, frag: string) => throwsCode(() => resourcesSpec(res(init), F), Code.InvalidArgument, frag);
  t({ cpuShares: -1n }, "linux.resources.cpu_shares");
  t({ cpuPeriod: 999n }, "linux.resources.cpu_period");
  t({ cpuPeriod: 1_000_001n }, "linux.resources.cpu_period");
  t({ cpuQuota: 500n }, "linux.resources.cpu_quota");
  t({ cpusetCpus: "0-" }, "linux.resources.cpuset_cpus");
  t({ memoryLimitInBytes: 4096n }, "linux.resources.memory_limit_in_bytes");
  t({ memoryLimitInBytes: -5n }, "linux.resources.memory_limit_in_bytes");
  t({ oomScoreAdj: 1001n }, "linux.resources.oom_score_adj");
  t({ hugepageLimits: [{ pageSize: "2M", limit: 1n }] }, "linux.resources.hugepage_limits[0].page_size");
});

test("page sizes are 1024-based", () => {
  assert.equal(pageSizeBytes("2MB"), 2 * 1024 * 1024);
  assert.equal(pageSizeBytes("1GB"), 1024 ** 3);
  assert.equal(pageSizeBytes("64KB"), 64 * 1024);
  assert.equal(pageSizeBytes("2Mi"), undefined);
});

test("pod resources: total plus overhead; the overhead alone never creates a limit", () => {
  const linux = create(LinuxPodSandboxConfigSchema, {
    resources: { cpuShares: 1024n, cpuQuota: 100_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 1n << 30n, hugepageLimits: [{ pageSize: "2MB", limit: 2n << 20n }] },
    overhead: { cpuShares: 128n, cpuQuota: 5_000n, cpuPeriod: 50_000n, memoryLimitInBytes: 64n << 20n, hugepageLimits: [{ pageSize: "2MB", limit: 2n << 20n }] },
  });
  const r = podResources(linux)!;
  assert.equal(r.cpuShares, 1152n);
  assert.equal(r.cpuQuota, 110_000n, "overhead quota converted to the pod's period");
  assert.equal(r.memoryLimitInBytes, (1n << 30n) + (64n << 20n));
  assert.deepEqual(r.hugepageLimits.map((h) => [h.pageSize, h.limit]), [["2MB", 4n << 20n]]);

  const noLimits = podResources(create(LinuxPodSandboxConfigSchema, { resources: { cpuShares: 2n }, overhead: { cpuQuota: 5_000n, memoryLimitInBytes: 1n << 20n } }))!;
  assert.equal(noLimits.cpuQuota, 0n);
  assert.equal(noLimits.memoryLimitInBytes, 0n);
  assert.equal(podResources(create(LinuxPodSandboxConfigSchema, {})), undefined);
  assert.equal(podResources(undefined), undefined);
});

test("reverse: Porto spec back to the CRI values that produced it", () => {
  const cases: Init[] = [
    { cpuShares: 2n, cpuPeriod: 100_000n, cpuQuota: 10_000n, memoryLimitInBytes: 64n << 20n, oomScoreAdj: 500n },
    { cpuShares: 102n, cpuPeriod: 100_000n, cpuQuota: 33_333n, cpusetCpus: "1,3", oomScoreAdj: 0n },
    { cpuShares: 1023n, cpuPeriod: 50_000n, cpuQuota: 125_000n, memoryLimitInBytes: 3n << 30n, oomScoreAdj: 1000n },
    { cpuShares: 262_144n, cpuPeriod: 1_000_000n, cpuQuota: 64_000_000n, oomScoreAdj: 2n, hugepageLimits: [{ pageSize: "2MB", limit: 0n }] },
    { cpuPeriod: 100_000n, hugepageLimits: [{ pageSize: "2MB", limit: 8n << 20n }], oomScoreAdj: 0n },
  ];
  for (const init of cases) {
    const { spec } = resourcesSpec(res(init), F);
    // What ListContainersBy would answer: portod stores cores as CPU power (ns/s) in an integer.
    const stored = create(TContainerSpecSchema, { name: "x", ...spec });
    stored.cpuGuarantee = Math.trunc(stored.cpuGuarantee * 1e9) / 1e9;
    stored.cpuLimit = Math.trunc(stored.cpuLimit * 1e9) / 1e9;
    const back = create(LinuxContainerResourcesSchema, resourcesFromSpec(stored));
    const want = res({ cpuPeriod: 100_000n, ...init });
    assert.deepEqual(back, want, JSON.stringify(init, (_, v) => (typeof v === "bigint" ? String(v) : v)));
  }
});

test("an update replaces the fields it sets and keeps the others; oom_score_adj never changes", () => {
  const current = res({ cpuShares: 256n, cpuQuota: 50_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 64n << 20n, oomScoreAdj: 500n, cpusetCpus: "0" });
  const merged = mergeResources(current, res({ memoryLimitInBytes: 128n << 20n, cpuQuota: 150_000n, oomScoreAdj: -100n }));
  assert.equal(merged.memoryLimitInBytes, 128n << 20n);
  assert.equal(merged.cpuQuota, 150_000n);
  assert.equal(merged.cpuShares, 256n, "kept");
  assert.equal(merged.cpuPeriod, 100_000n, "kept");
  assert.equal(merged.cpusetCpus, "0", "kept");
  assert.equal(merged.oomScoreAdj, 500n, "fixed at creation");
  assert.equal(current.memoryLimitInBytes, 64n << 20n, "the current resources are not modified");
  const fresh = mergeResources(undefined, res({ cpuShares: 1024n }));
  assert.equal(fresh.cpuShares, 1024n);
  assert.equal(fresh.memoryLimitInBytes, 0n);
});

test("a resource update sends only the dynamic properties that change; a removed limit as none", () => {
  const from = res({ cpuShares: 512n, cpuQuota: 50_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 64n << 20n, oomScoreAdj: 300n });
  const memOnly = dynamicResourcesUpdate(from, mergeResources(from, res({ memoryLimitInBytes: 128n << 20n })), F);
  assert.deepEqual(memOnly.spec, { memoryLimit: 128n << 20n }, "no CPU property: portod refuses them on a container created without CPU settings");
  assert.deepEqual(
    dynamicResourcesUpdate(from, res({ cpuShares: 1024n, cpuQuota: 200_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 64n << 20n, oomScoreAdj: -5n }), F).spec,
    { cpuGuarantee: 1, cpuLimit: 2 },
    "oom_score_adj never: portod sets it only in the stopped state",
  );
  assert.deepEqual(dynamicResourcesUpdate(from, undefined, F).spec, { cpuGuarantee: 0, cpuLimit: 0, memoryLimit: 0n }, "no resources: no limits (the period was the default already)");
  assert.deepEqual(dynamicResourcesUpdate(undefined, undefined, F).spec, {});
  assert.deepEqual(
    dynamicResourcesUpdate(undefined, res({ cpusetCpus: "0-1", hugepageLimits: [{ pageSize: "2MB", limit: 2n << 20n }] }), F).spec,
    { cpuSet: { policy: "set", list: "0-1" }, hugetlbLimit: 2n << 20n },
  );
  throwsCode(() => dynamicResourcesUpdate(from, res({ memoryLimitInBytes: 1000n }), F), Code.InvalidArgument, "linux.resources.memory_limit_in_bytes");
});
