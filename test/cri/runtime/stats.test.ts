/**
 * ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats,
 * ListMetricDescriptors, ListPodSandboxMetrics, UpdateContainerResources and
 * UpdatePodSandboxResources through the CRI server, against the Porto double
 * with usage figures set by the test (porto-double/usage.ts).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContainerState } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../../../src/mapping/porto-names.js";
import type { PortoClient } from "../../../src/porto/index.js";
import { rootVolumes } from "../../../src/runtime/stats-collector.js";
import { setUsage } from "../../porto-double/index.js";
import { ctrConfig, eventually, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

const MB = 1n << 20n;
const S = 1_000_000_000n;

/** Porto requests by method, counted through the shim's client. */
const calls = new Map<string, number>();
function counting(porto: PortoClient): PortoClient {
  return new Proxy(porto, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function" || typeof prop !== "string") return v;
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

let shim: Shim;
let podId: string;
let running: string;
let created: string;

const code = (c: Code) => (err: unknown) => {
  const e = ConnectError.from(err);
  assert.equal(Code[e.code], Code[c], e.rawMessage);
  return true;
};

function ct(id: string, pod = podId) {
  return shim.double.state.containers.get(containerPortoName(pod, id))!;
}

async function createCtr(argv: string[], init: Parameters<typeof ctrConfig>[1] = {}, pod = podId): Promise<string> {
  return (await shim.rt.createContainer({ podSandboxId: pod, config: ctrConfig(argv, init) })).containerId;
}

/** Where the double keeps what a container wrote to its root (as portod: <place>/porto_volumes/<id>/overlay/upper). */
async function upperDirOf(id: string): Promise<string> {
  const name = containerPortoName(podId, id);
  const dir = rootVolumes(await shim.porto.listVolumes()).get(name)?.upperDir;
  if (!dir) throw new Error(`no root volume for ${name}`);
  assert.match(dir, /\/porto_volumes\/[0-9]+\/overlay\/upper$/);
  return dir;
}

before(async () => {
  shim = await startShim({ wrapPorto: counting });
  podId = (await shim.rt.runPodSandbox({ config: podConfig({ labels: { tier: "web" } }) })).podSandboxId;
  running = await createCtr(["sleep", "1000"], {
    labels: { app: "one" },
    annotations: { note: "x" },
    linux: { resources: { memoryLimitInBytes: 100n * MB, cpuShares: 512n } },
  });
  await shim.rt.startContainer({ containerId: running });
  created = await createCtr(["sleep", "1000"], { labels: { app: "two" } });
  setUsage(ct(running), {
    cpuUsageNs: 5n * S,
    cpuSystemNs: 2n * S,
    anonBytes: 20n * MB,
    cacheBytes: 30n * MB,
    inactiveFileBytes: 25n * MB,
    mappedFileBytes: 1n * MB,
    pgfault: 1000n,
    pgmajfault: 7n,
    processCount: 3n,
    threadCount: 5n,
  });
  setUsage(shim.double.state.containers.get(podPortoName(podId))!, {
    cpuUsageNs: 6n * S,
    anonBytes: 21n * MB,
    cacheBytes: 30n * MB,
    inactiveFileBytes: 25n * MB,
    processCount: 4n,
  });
});
after(async () => {
  await shim.close();
});

describe("ContainerStats", () => {
  test("cumulative CPU in nanoseconds, memory as cAdvisor defines it, attributes from the config", async () => {
    const { stats } = await shim.rt.containerStats({ containerId: running.slice(0, 13) });
    assert.equal(stats?.attributes?.id, running);
    assert.deepEqual(stats?.attributes?.labels, { app: "one" });
    assert.deepEqual(stats?.attributes?.annotations, { note: "x" });
    assert.ok(stats?.attributes?.metadata?.name);
    assert.equal(stats?.cpu?.usageCoreNanoSeconds?.value, 5n * S);
    assert.ok(stats!.cpu!.timestamp > 0n);
    const m = stats!.memory!;
    assert.equal(m.usageBytes?.value, 50n * MB, "anon + cache");
    assert.equal(m.workingSetBytes?.value, 25n * MB, "usage - inactive_file");
    assert.equal(m.rssBytes?.value, 20n * MB);
    assert.equal(m.availableBytes?.value, 75n * MB, "limit - working set");
    assert.equal(m.pageFaults?.value, 1000n);
    assert.equal(m.majorPageFaults?.value, 7n);
    assert.ok(m.timestamp > 0n);
  });

  test("usage_nano_cores is a rate over a real window: unset at first, then Δcpu/Δt", async () => {
    const fresh = await createCtr(["sleep", "1000"]);
    await shim.rt.startContainer({ containerId: fresh });
    setUsage(ct(fresh), { cpuUsageNs: 10n * S });
    const first = (await shim.rt.containerStats({ containerId: fresh })).stats!.cpu!;
    assert.equal(first.usageNanoCores, undefined, "nothing to compare with yet");
    await new Promise((r) => setTimeout(r, 1200));
    setUsage(ct(fresh), { cpuUsageNs: 10n * S + 600_000_000n }); // 0.6 core-seconds later
    const second = (await shim.rt.containerStats({ containerId: fresh })).stats!.cpu!;
    const expected = (600_000_000n * S) / (second.timestamp - first.timestamp);
    assert.equal(second.usageNanoCores?.value, expected);
    assert.ok(expected > 400_000_000n && expected < 520_000_000n, `about half a core over ~1.2 s, got ${expected}`);
    const soon = (await shim.rt.containerStats({ containerId: fresh })).stats!.cpu!;
    assert.ok(soon.usageNanoCores !== undefined, "a call right after still has a rate (against the first sample)");
  });

  test("the writable layer: what the container wrote to its root, not the filesystem's usage", async () => {
    const upper = await upperDirOf(running);
    await mkdir(join(upper, "tmp"), { recursive: true });
    await writeFile(join(upper, "tmp", "data"), Buffer.alloc(64 * 1024, 1));
    const fresh = await createCtr(["sleep", "1000"]); // not measured before: no cached figure
    const freshUpper = await upperDirOf(fresh);
    await writeFile(join(freshUpper, "f"), Buffer.alloc(10_000, 1));
    const { stats } = await shim.rt.containerStats({ containerId: fresh });
    const layer = stats!.writableLayer!;
    assert.ok(layer.usedBytes!.value >= 10_000n && layer.usedBytes!.value < 64n * 1024n, `${layer.usedBytes!.value}`);
    assert.equal(layer.inodesUsed?.value, 2n, "the upper directory and the file");
    assert.match(layer.fsId!.mountpoint, /porto_volumes$/);
    assert.ok(layer.timestamp > 0n);
  });

  test("a created container has attributes and a writable layer, no CPU or memory", async () => {
    const { stats } = await shim.rt.containerStats({ containerId: created });
    assert.equal(stats?.attributes?.id, created);
    assert.equal(stats?.cpu, undefined);
    assert.equal(stats?.memory, undefined);
    assert.ok(stats?.writableLayer);
  });

  test("an unknown id is NotFound", async () => {
    await assert.rejects(shim.rt.containerStats({ containerId: "f".repeat(64) }), code(Code.NotFound));
  });
});

describe("ListContainerStats", () => {
  test("every container in one Porto get, and one listVolumes only while a root volume is new", async () => {
    await createCtr(["sleep", "1000"]); // a new container: its root volume is not known yet
    calls.clear();
    const { stats } = await shim.rt.listContainerStats({});
    const ids = stats.map((s) => s.attributes!.id);
    assert.ok(ids.includes(running) && ids.includes(created));
    assert.equal(calls.get("get"), 1);
    assert.equal(calls.get("listVolumes"), 1);
    calls.clear();
    await shim.rt.listContainerStats({});
    assert.equal(calls.get("get"), 1);
    assert.equal(calls.get("listVolumes") ?? 0, 0, "root volumes are remembered");
  });

  test("filters: id or its prefix, pod id or its prefix, label selector", async () => {
    const ids = async (filter: object) => (await shim.rt.listContainerStats({ filter })).stats.map((s) => s.attributes!.id).sort();
    assert.deepEqual(await ids({ id: running.slice(0, 13) }), [running]);
    assert.deepEqual(await ids({ id: running, labelSelector: { app: "two" } }), []);
    assert.deepEqual(await ids({ labelSelector: { app: "two" } }), [created]);
    assert.ok((await ids({ podSandboxId: podId.slice(0, 13) })).includes(running));
    assert.deepEqual(await ids({ podSandboxId: "0".repeat(64) }), []);
    assert.deepEqual(await ids({ id: "0".repeat(64) }), []);
  });

  test("StreamContainerStats sends the same stats", async () => {
    const streamed = [];
    for await (const batch of shim.rt.streamContainerStats({ filter: { id: running } })) streamed.push(...batch.containerStats);
    assert.deepEqual(
      streamed.map((s) => s.attributes!.id),
      [running],
    );
  });

  test("an exited container keeps its attributes, loses its CPU and memory figures", async () => {
    const id = await createCtr(["sh", "-c", "exit 3"], { labels: { app: "gone" } });
    await shim.rt.startContainer({ containerId: id });
    await eventually("exit", async () =>
      (await shim.rt.containerStatus({ containerId: id })).status!.state === ContainerState.CONTAINER_EXITED ? true : undefined,
    );
    const [s] = (await shim.rt.listContainerStats({ filter: { labelSelector: { app: "gone" } } })).stats;
    assert.equal(s.attributes?.id, id);
    assert.equal(s.cpu, undefined);
    assert.equal(s.memory, undefined);
  });
});

describe("PodSandboxStats", () => {
  test("the pod's own totals, process count and its containers' stats", async () => {
    calls.clear();
    const { stats } = await shim.rt.podSandboxStats({ podSandboxId: podId.slice(0, 13) });
    assert.equal(stats?.attributes?.id, podId);
    assert.deepEqual(stats?.attributes?.labels, { tier: "web" });
    const linux = stats!.linux!;
    assert.equal(linux.cpu?.usageCoreNanoSeconds?.value, 6n * S);
    assert.equal(linux.memory?.workingSetBytes?.value, 26n * MB);
    assert.equal(linux.process?.processCount?.value, 4n);
    const ids = linux.containers.map((c) => c.attributes!.id);
    assert.ok(ids.includes(running) && ids.includes(created));
    assert.equal(linux.containers.find((c) => c.attributes!.id === running)?.memory?.workingSetBytes?.value, 25n * MB);
    assert.equal(calls.get("get"), 1, "pod and containers in one get");
  });

  test("ListPodSandboxStats: ready pods, filtered by id prefix and labels; a stopped pod is left out", async () => {
    const other = (await shim.rt.runPodSandbox({ config: podConfig({ labels: { tier: "db" } }) })).podSandboxId;
    const ids = async (filter?: object) => (await shim.rt.listPodSandboxStats({ filter })).stats.map((s) => s.attributes!.id).sort();
    assert.deepEqual(await ids(), [podId, other].sort());
    assert.deepEqual(await ids({ labelSelector: { tier: "db" } }), [other]);
    assert.deepEqual(await ids({ id: podId.slice(0, 13) }), [podId]);
    assert.deepEqual(await ids({ id: "0".repeat(64) }), []);
    await shim.rt.stopPodSandbox({ podSandboxId: other });
    assert.deepEqual(await ids(), [podId]);
    const streamed = [];
    for await (const b of shim.rt.streamPodSandboxStats({})) streamed.push(...b.podSandboxStats);
    assert.deepEqual(
      streamed.map((s) => s.attributes!.id),
      [podId],
    );
    await shim.rt.removePodSandbox({ podSandboxId: other });
  });

  test("an unknown pod is NotFound", async () => {
    await assert.rejects(shim.rt.podSandboxStats({ podSandboxId: "f".repeat(64) }), code(Code.NotFound));
  });
});

describe("metrics", () => {
  test("descriptors name cAdvisor's metrics; every sample names a descriptor with matching labels", async () => {
    const { descriptors } = await shim.rt.listMetricDescriptors({});
    const byName = new Map(descriptors.map((d) => [d.name, d]));
    assert.ok(byName.has("container_memory_working_set_bytes"));
    assert.deepEqual(byName.get("container_memory_working_set_bytes")!.labelKeys, ["container", "id", "image", "name", "namespace", "pod"]);
    const { podMetrics } = await shim.rt.listPodSandboxMetrics({});
    const pod = podMetrics.find((p) => p.podSandboxId === podId)!;
    assert.ok(pod, "the pod has metrics");
    const all = [...pod.metrics, ...pod.containerMetrics.flatMap((c) => c.metrics)];
    for (const m of all) {
      const d = byName.get(m.name);
      assert.ok(d, `${m.name} is declared`);
      assert.equal(m.labelValues.length, d.labelKeys.length, m.name);
    }
    const mine = pod.containerMetrics.find((c) => c.containerId === running)!;
    const ws = mine.metrics.find((m) => m.name === "container_memory_working_set_bytes")!;
    assert.equal(ws.value?.value, 25n * MB);
    const labels = Object.fromEntries(byName.get(ws.name)!.labelKeys.map((k, i) => [k, ws.labelValues[i]]));
    assert.equal(labels.id, running);
    assert.equal(labels.pod, (await shim.rt.podSandboxStatus({ podSandboxId: podId })).status!.metadata!.name);
    assert.equal(labels.namespace, "default");
    assert.equal(labels.name, containerPortoName(podId, running));
    assert.ok(labels.container.startsWith("ctr-"));
    assert.equal(mine.metrics.find((m) => m.name === "container_cpu_usage_seconds_total")?.value?.value, 5n);
    assert.equal(
      pod.metrics.find((m) => m.name === "container_memory_working_set_bytes")?.labelValues[0],
      "",
      "pod-level series have container=\"\"",
    );
    assert.equal(
      pod.containerMetrics.find((c) => c.containerId === created),
      undefined,
      "a container that never ran has no series",
    );
  });
});

describe("UpdateContainerResources", () => {
  test("a running container gets the new limits at once; ContainerStatus reports them, also after a restart", async () => {
    await shim.rt.updateContainerResources({
      containerId: running.slice(0, 13),
      linux: { memoryLimitInBytes: 200n * MB, cpuQuota: 150_000n, cpuPeriod: 100_000n },
    });
    assert.equal(ct(running).memoryLimit, 200n * MB);
    assert.equal(ct(running).cpuLimit, 1_500_000_000n, "1.5 cores");
    const r = (await shim.rt.containerStatus({ containerId: running })).status!.resources!.linux!;
    assert.equal(r.memoryLimitInBytes, 200n * MB);
    assert.equal(r.cpuQuota, 150_000n);
    assert.equal(r.cpuShares, 512n, "kept from creation");
    const { stats } = await shim.rt.containerStats({ containerId: running });
    assert.equal(stats!.memory!.availableBytes?.value, 175n * MB, "the new limit - working set");
    await shim.restart();
    setUsage(ct(running), {}); // the figures live in the double, not in the shim
    const again = (await shim.rt.containerStatus({ containerId: running })).status!.resources!.linux!;
    assert.equal(again.memoryLimitInBytes, 200n * MB);
  });

  test("a limit below what the container uses is refused with portod's reason; nothing changes", async () => {
    await assert.rejects(
      shim.rt.updateContainerResources({ containerId: running, linux: { memoryLimitInBytes: 10n * MB, cpuQuota: 50_000n } }),
      (err: unknown) => {
        const e = ConnectError.from(err);
        assert.equal(Code[e.code], Code[Code.FailedPrecondition]);
        assert.match(e.rawMessage, /Memory limit is too low for current memory usage/);
        return true;
      },
    );
    assert.equal(ct(running).memoryLimit, 200n * MB);
    assert.equal(ct(running).cpuLimit, 1_500_000_000n, "the CPU limit in the same update was not applied either");
    const r = (await shim.rt.containerStatus({ containerId: running })).status!.resources!.linux!;
    assert.equal(r.memoryLimitInBytes, 200n * MB);
    assert.equal(r.cpuQuota, 150_000n);
  });

  test("values no kernel takes are InvalidArgument naming the field", async () => {
    await assert.rejects(shim.rt.updateContainerResources({ containerId: running, linux: { memoryLimitInBytes: 1000n } }), (err: unknown) => {
      const e = ConnectError.from(err);
      assert.equal(Code[e.code], Code[Code.InvalidArgument]);
      assert.match(e.rawMessage, /memory_limit_in_bytes/);
      return true;
    });
  });

  test("a created container gets them before it starts; an unknown one is NotFound", async () => {
    await shim.rt.updateContainerResources({ containerId: created, linux: { memoryLimitInBytes: 64n * MB } });
    assert.equal(ct(created).memoryLimit, 64n * MB);
    assert.equal((await shim.rt.containerStatus({ containerId: created })).status!.resources!.linux!.memoryLimitInBytes, 64n * MB);
    await assert.rejects(shim.rt.updateContainerResources({ containerId: "f".repeat(64), linux: {} }), code(Code.NotFound));
  });
});

describe("UpdatePodSandboxResources", () => {
  test("the pod's Porto container gets the containers' new total plus the overhead", async () => {
    await shim.rt.updatePodSandboxResources({
      podSandboxId: podId,
      resources: { memoryLimitInBytes: 300n * MB, cpuQuota: 200_000n, cpuPeriod: 100_000n, cpuShares: 1024n },
      overhead: { memoryLimitInBytes: 20n * MB },
    });
    const pod = shim.double.state.containers.get(podPortoName(podId))!;
    assert.equal(pod.memoryLimit, 320n * MB);
    assert.equal(pod.cpuLimit, 2_000_000_000n);
    const config = shim.state.pod(podId)!.config;
    assert.equal(config.linux?.resources?.memoryLimitInBytes, 300n * MB);
    assert.equal(config.linux?.overhead?.memoryLimitInBytes, 20n * MB);
  });

  test("a limit below the pod's usage is refused with portod's reason", async () => {
    await assert.rejects(
      shim.rt.updatePodSandboxResources({ podSandboxId: podId, resources: { memoryLimitInBytes: 2n * MB } }),
      code(Code.FailedPrecondition),
    );
    assert.equal(shim.double.state.containers.get(podPortoName(podId))!.memoryLimit, 320n * MB);
  });
});
