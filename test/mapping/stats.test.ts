import { test } from "node:test";
import assert from "node:assert/strict";
import {
  availableBytes,
  cpuUsageOf,
  defaultInterface,
  filesystemUsageOf,
  memoryFigures,
  memoryUsageOf,
  nanoCores,
  networkUsageOf,
  parseCores,
  parseMemoryStat,
  parseNetDev,
  parseUint,
  portoUsage,
  processUsageOf,
  quotaOf,
  rateReference,
  sharesOf,
  workingSet,
} from "../../src/mapping/stats.js";

const S = 1_000_000_000n;

// memory.stat of a container that wrote a 50 MB file and reads it back (portod 5.3.59, cgroup v1).
const MEMORY_STAT = `cache 50008064
rss 159744
rss_huge 0
shmem 0
mapped_file 0
pgfault 559
pgmajfault 0
inactive_anon 151552
active_anon 8192
inactive_file 50008064
active_file 0
hierarchical_memory_limit 9223372036854771712
total_cache 50008064
total_rss 159744
total_mapped_file 4096
total_swap 0
total_pgfault 600
total_pgmajfault 3
total_inactive_file 50008064
total_active_file 0
`;

test("parseUint and parseCores accept only what portod prints", () => {
  const table: [string | undefined, bigint | undefined][] = [
    ["0", 0n],
    ["1729558803", 1729558803n],
    [" 42\n", 42n],
    ["", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    [undefined, undefined],
  ];
  for (const [text, want] of table) assert.equal(parseUint(text), want, JSON.stringify(text));
  const cores: [string | undefined, number | undefined][] = [
    ["0c", 0],
    ["1.5c", 1.5],
    ["2", 2],
    ["0.25c", 0.25],
    ["c", undefined],
    ["", undefined],
    [undefined, undefined],
  ];
  for (const [text, want] of cores) assert.equal(parseCores(text), want, JSON.stringify(text));
});

test("memory.stat lines become a map; malformed lines are skipped", () => {
  const m = parseMemoryStat("cache 10\nrss 20\n\nbogus\nodd 1 2\nneg -1\n");
  assert.deepEqual([...m], [
    ["cache", 10n],
    ["rss", 20n],
  ]);
});

test("a batched get's values become a usage sample; refused properties are absent", () => {
  const u = portoUsage(
    new Map([
      ["state", "running"],
      ["cpu_usage", "23247849297"],
      ["cpu_usage_system", "60000000"],
      ["memory_usage", "52178944"],
      ["memory.stat", MEMORY_STAT],
      ["memory_limit", "0"],
      ["process_count", "2"],
      ["thread_count", "3"],
      ["oom_kills", "0"],
      ["cpu_limit", "1.5c"],
      ["cpu_guarantee", "0.25c"],
      ["cpu_period", "100000000"],
      ["root_pid", "17160"],
    ]),
  );
  assert.equal(u.state, "running");
  assert.equal(u.cpuUsageNs, 23247849297n);
  assert.equal(u.cpuSystemNs, 60000000n);
  assert.equal(u.memoryUsage, 52178944n);
  assert.equal(u.memoryStat?.get("total_inactive_file"), 50008064n);
  assert.equal(u.memoryLimit, 0n);
  assert.equal(u.processCount, 2n);
  assert.equal(u.threadCount, 3n);
  assert.equal(u.cpuLimitCores, 1.5);
  assert.equal(u.cpuGuaranteeCores, 0.25);
  assert.equal(u.cpuPeriodNs, 100_000_000n);
  assert.equal(u.rootPid, 17160);
  assert.deepEqual(Object.keys(portoUsage(new Map([["state", "stopped"]]))), ["state"], "nothing else for a stopped container");
  assert.equal(portoUsage(new Map([["root_pid", "0"]])).rootPid, undefined, "no process, no pid");
});

test("working set is usage minus inactive file cache, never below zero", () => {
  const table: [bigint, bigint | undefined, bigint][] = [
    [52178944n, 50008064n, 2170880n],
    [100n, undefined, 100n],
    [100n, 100n, 0n],
    [100n, 150n, 0n],
    [0n, 0n, 0n],
  ];
  for (const [usage, inactive, want] of table) assert.equal(workingSet(usage, inactive), want, `${usage} - ${inactive}`);
});

test("available bytes only under a limit", () => {
  const table: [bigint | undefined, bigint, bigint | undefined][] = [
    [100n << 20n, 30n << 20n, 70n << 20n],
    [100n, 150n, 0n],
    [0n, 10n, undefined],
    [undefined, 10n, undefined],
    [9223372036854771712n, 10n, undefined],
  ];
  for (const [limit, ws, want] of table) assert.equal(availableBytes(limit, ws), want, `${limit} - ${ws}`);
});

test("memory figures as cAdvisor: hierarchy totals on cgroup v1, plain keys on v2", () => {
  const v1 = memoryFigures({ state: "running", memoryUsage: 52178944n, memoryLimit: 64n << 20n, memoryStat: parseMemoryStat(MEMORY_STAT) })!;
  assert.deepEqual(v1, {
    usageBytes: 52178944n,
    workingSetBytes: 2170880n,
    availableBytes: (64n << 20n) - 2170880n,
    rssBytes: 159744n,
    pageFaults: 600n,
    majorPageFaults: 3n,
    cacheBytes: 50008064n,
    mappedFileBytes: 4096n,
    swapBytes: 0n,
  });
  const v2 = memoryFigures({
    state: "running",
    memoryUsage: 1000n,
    memoryStat: new Map([
      ["anon", 300n],
      ["file", 600n],
      ["inactive_file", 400n],
      ["file_mapped", 50n],
      ["pgfault", 9n],
      ["pgmajfault", 1n],
    ]),
  })!;
  assert.equal(v2.workingSetBytes, 600n);
  assert.equal(v2.rssBytes, 300n);
  assert.equal(v2.cacheBytes, 600n);
  assert.equal(v2.mappedFileBytes, 50n);
  assert.equal(v2.pageFaults, 9n);
  assert.equal(v2.availableBytes, undefined, "no limit");
  assert.equal(memoryFigures({ state: "stopped" }), undefined);
});

test("CRI messages carry the figures with their timestamp; absent figures stay unset", () => {
  const at = 1_700_000_000n * S;
  const u = portoUsage(
    new Map([
      ["state", "running"],
      ["cpu_usage", "5000000000"],
      ["memory_usage", "52178944"],
      ["memory.stat", MEMORY_STAT],
      ["memory_limit", "0"],
      ["process_count", "4"],
    ]),
  );
  const cpu = cpuUsageOf(u, at, 250_000_000n)!;
  assert.equal(cpu.timestamp, at);
  assert.equal(cpu.usageCoreNanoSeconds?.value, 5n * S);
  assert.equal(cpu.usageNanoCores?.value, 250_000_000n);
  assert.equal(cpuUsageOf(u, at)!.usageNanoCores, undefined, "no rate yet: unset, not 0");
  const mem = memoryUsageOf(u, at)!;
  assert.equal(mem.workingSetBytes?.value, 2170880n);
  assert.equal(mem.usageBytes?.value, 52178944n);
  assert.equal(mem.rssBytes?.value, 159744n);
  assert.equal(mem.availableBytes?.value, 0n, "no limit: 0, as containerd");
  assert.equal(mem.pageFaults?.value, 600n);
  assert.equal(processUsageOf(u, at)?.processCount?.value, 4n);
  assert.equal(cpuUsageOf({ state: "stopped" }, at), undefined);
  assert.equal(memoryUsageOf({ state: "stopped" }, at), undefined);
  assert.equal(processUsageOf({ state: "stopped" }, at), undefined);
  const fs = filesystemUsageOf({ bytes: 12288n, inodes: 4n, atNs: at, mountpoint: "/place/porto_volumes" });
  assert.equal(fs.usedBytes?.value, 12288n);
  assert.equal(fs.inodesUsed?.value, 4n);
  assert.equal(fs.fsId?.mountpoint, "/place/porto_volumes");
});

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       7       1    0    0    0     0          0         0        7       1    0    0    0     0       0          0
psstats-c:     110       1    2    3    0     0          0         0       90       4    5    6    0     0       0          0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 1 0 0 0 0
`;

test("/proc/net/dev: every interface but lo, eth0 as the default (else the first)", () => {
  const ifaces = parseNetDev(NET_DEV);
  assert.deepEqual(
    ifaces.map((i) => [i.name, i.rxBytes, i.rxPackets, i.rxErrors, i.rxDropped, i.txBytes, i.txPackets, i.txErrors, i.txDropped]),
    [
      ["psstats-c", 110n, 1n, 2n, 3n, 90n, 4n, 5n, 6n],
      ["eth0", 1000n, 10n, 0n, 0n, 2000n, 20n, 0n, 1n],
    ],
  );
  assert.equal(defaultInterface(ifaces)?.name, "eth0");
  assert.equal(defaultInterface(ifaces.slice(0, 1))?.name, "psstats-c");
  assert.equal(defaultInterface([]), undefined);
  const net = networkUsageOf(ifaces, 5n);
  assert.equal(net.timestamp, 5n);
  assert.equal(net.defaultInterface?.name, "eth0");
  assert.equal(net.defaultInterface?.txBytes?.value, 2000n);
  assert.equal(net.interfaces.length, 2);
  assert.equal(networkUsageOf([], 5n).defaultInterface, undefined, "loopback only: no default");
});

test("nano-cores over a window: (Δusage / Δt) × 1e9; nothing for an empty window or a counter that went back", () => {
  const table: [[bigint, bigint], [bigint, bigint], bigint | undefined][] = [
    [[0n, 0n], [S, 10n * S], 100_000_000n], // 1 s of CPU in 10 s: 0.1 core
    [[5n * S, 0n], [25n * S, 10n * S], 2n * S], // two cores busy
    [[0n, 0n], [0n, S], 0n],
    [[0n, S], [S, S], undefined], // no time passed
    [[0n, 2n * S], [S, S], undefined], // samples out of order
    [[10n * S, 0n], [S, S], undefined], // counter reset (restart)
  ];
  for (const [[u0, t0], [u1, t1], want] of table) {
    assert.equal(nanoCores({ usageNs: u0, atNs: t0 }, { usageNs: u1, atNs: t1 }), want, `${u0}@${t0} -> ${u1}@${t1}`);
  }
});

test("the rate reference is the newest sample at least the minimum window old", () => {
  const samples = [0n, 5n, 9n].map((t) => ({ usageNs: t, atNs: t * S }));
  assert.equal(rateReference(samples, 10n * S, S)?.atNs, 9n * S);
  assert.equal(rateReference(samples, 9n * S + S / 2n, S)?.atNs, 5n * S, "9 s is too recent at 9.5 s");
  assert.equal(rateReference(samples, 0n, S), undefined);
  assert.equal(rateReference([], 10n * S, S), undefined);
});

test("cgroup spec figures: shares from a guarantee (at least 2), quota from a limit", () => {
  assert.equal(sharesOf(0), 2n);
  assert.equal(sharesOf(0.5), 512n);
  assert.equal(sharesOf(2), 2048n);
  assert.equal(quotaOf(1.5, 100_000_000n), 150_000n);
  assert.equal(quotaOf(0.5, 50_000_000n), 25_000n);
  assert.equal(quotaOf(0, 100_000_000n), undefined);
});
