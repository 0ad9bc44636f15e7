/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * ContainerStatus and ListContainers through the CRI server, against the
 * Porto double (whose containers run their commands on the host).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContainerState, Signal } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName, MANAGED_LABEL, podPortoName } from "../../../src/mapping/porto-names.js";
import { KEEP_DEAD_SECONDS } from "../../../src/runtime/owned-spec.js";
import { BUSYBOX, NOT_PULLED, ctrConfig, eventually, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

let shim: Shim;
let podId: string;
before(async () => {
  shim = await startShim();
  podId = (await shim.rt.runPodSandbox({ config: podConfig({ logDirectory: "/var/log/pods/ns_pod_uid" }) })).podSandboxId;
});
after(async () => {
  await shim.close();
});

const code = (c: Code) => (err: unknown) => ConnectError.from(err).code === c;

async function status(id: string) {
  return (await shim.rt.containerStatus({ containerId: id })).status!;
}

async function exited(id: string) {
  return eventually(`container ${id} to exit`, async () => {
    const s = await status(id);
    return s.state === ContainerState.CONTAINER_EXITED ? s : undefined;
  });
}

async function create(argv: string[], init: Parameters<typeof ctrConfig>[1] = {}, pod = podId) {
  return (await shim.rt.createContainer({ podSandboxId: pod, config: ctrConfig(argv, init) })).containerId;
}

async function recordFiles(): Promise<string[]> {
  return (await readdir(join(shim.stateDir, "containers"))).filter((f) => f.endsWith(".json"));
}

describe("CreateContainer", () => {
  test("a created container: a stopped Porto child of the pod, owned, kept when dead, every status field filled", async () => {
    const config = ctrConfig(["sleep", "30"], {
      labels: { app: "web", "ключ": "✓" },
      annotations: { "io.kubernetes.container.hash": "abc", big: "x".repeat(300_000) },
      logPath: "web/0.log",
      mounts: [{ containerPath: "/data", hostPath: "/tmp", readonly: true }],
      linux: { resources: { cpuShares: 512n, memoryLimitInBytes: 64n << 20n } },
    });
    const { containerId: id } = await shim.rt.createContainer({ podSandboxId: podId.slice(0, 13), config });
    const ct = shim.double.state.containers.get(containerPortoName(podId, id))!;
    assert.equal(ct.state, "stopped");
    assert.equal(ct.labels.get(MANAGED_LABEL), "portoshim");
    assert.equal(ct.agingTimeMs, Number(KEEP_DEAD_SECONDS) * 1000);
    assert.ok((await stat(join(shim.volumesDir, id))).isDirectory(), "the root directory exists");

    const s = await status(id.slice(0, 13));
    assert.equal(s.id, id);
    assert.equal(s.state, ContainerState.CONTAINER_CREATED);
    assert.deepEqual(s.metadata, config.metadata);
    assert.deepEqual(s.labels, config.labels);
    assert.deepEqual(s.annotations, config.annotations);
    assert.equal(s.image?.image, BUSYBOX);
    assert.match(s.imageId, /^sha256:[0-9a-f]{64}$/);
    assert.ok(s.imageRef.length > 0);
    assert.equal(s.logPath, "/var/log/pods/ns_pod_uid/web/0.log");
    assert.equal(s.mounts[0].containerPath, "/data");
    assert.equal(s.mounts[0].readonly, true);
    assert.equal(s.resources?.linux?.cpuShares, 512n);
    assert.equal(s.user?.linux?.uid, 0n);
    assert.equal(s.stopSignal, Signal.SIGTERM);
    assert.ok(s.createdAt > 0n);
    assert.equal(s.startedAt, 0n);
    assert.equal(s.finishedAt, 0n);
    const verbose = await shim.rt.containerStatus({ containerId: id, verbose: true });
    const info = JSON.parse(verbose.info.info);
    assert.equal(info.sandboxID, podId);
    assert.equal(info.portoName, containerPortoName(podId, id));
  });

  test("the same name and attempt in a pod is AlreadyExists; another attempt or pod is fine", async () => {
    const config = ctrConfig(["sleep", "30"]);
    await shim.rt.createContainer({ podSandboxId: podId, config });
    await assert.rejects(shim.rt.createContainer({ podSandboxId: podId, config }), code(Code.AlreadyExists));
    const other = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    await shim.rt.createContainer({ podSandboxId: other, config });
    config.metadata!.attempt = 1;
    await shim.rt.createContainer({ podSandboxId: podId, config });
  });

  test("refusals: bad config (InvalidArgument naming the field), unknown pod, image not pulled (NotFound), stopped pod; nothing left", async () => {
    const before = await recordFiles();
    const portoBefore = shim.double.state.containers.size;
    await assert.rejects(shim.rt.createContainer({ podSandboxId: podId }), (e: unknown) =>
      code(Code.InvalidArgument)(e) && /config/.test(ConnectError.from(e).rawMessage),
    );
    await assert.rejects(shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(["true"], { image: { image: "" } }) }), (e: unknown) =>
      /config\.image\.image/.test(ConnectError.from(e).rawMessage),
    );
    await assert.rejects(shim.rt.createContainer({ podSandboxId: "e".repeat(64), config: ctrConfig(["true"]) }), code(Code.NotFound));
    await assert.rejects(shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(["true"], { image: { image: NOT_PULLED } }) }), (e: unknown) =>
      code(Code.NotFound)(e) && /not found/.test(ConnectError.from(e).rawMessage),
    );
    const stopped = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    await shim.rt.stopPodSandbox({ podSandboxId: stopped });
    await assert.rejects(shim.rt.createContainer({ podSandboxId: stopped, config: ctrConfig(["true"]) }), code(Code.FailedPrecondition));
    assert.deepEqual(await recordFiles(), before);
    assert.equal(shim.double.state.containers.size, portoBefore + 1, "only the new pod");
  });
});

describe("StartContainer, StopContainer", () => {
  test("start runs it; stop sends SIGTERM, waits, and the exit is kept with times in order", async () => {
    const id = await create(["sleep", "30"]);
    await shim.rt.startContainer({ containerId: id.slice(0, 13) });
    let s = await status(id);
    assert.equal(s.state, ContainerState.CONTAINER_RUNNING);
    assert.ok(s.startedAt > s.createdAt);
    await assert.rejects(shim.rt.startContainer({ containerId: id }), code(Code.FailedPrecondition));

    const t0 = Date.now();
    await shim.rt.stopContainer({ containerId: id.slice(0, 13), timeout: 10n });
    assert.ok(Date.now() - t0 < 5000, "SIGTERM ended it without waiting for the timeout");
    s = await status(id);
    assert.equal(s.state, ContainerState.CONTAINER_EXITED);
    assert.equal(s.exitCode, 143);
    assert.equal(s.reason, "Error");
    assert.match(s.message, /SIGTERM/);
    assert.ok(s.finishedAt >= s.startedAt && s.startedAt > s.createdAt);
    assert.equal(shim.double.state.containers.get(containerPortoName(podId, id))?.state, "dead");
    // Stopping again, or an exited container, or an unknown one, succeeds.
    await shim.rt.stopContainer({ containerId: id, timeout: 10n });
    await shim.rt.stopContainer({ containerId: "e".repeat(64), timeout: 0n });
    assert.equal((await status(id)).exitCode, 143);
    await assert.rejects(shim.rt.startContainer({ containerId: id }), code(Code.FailedPrecondition));
  });

  test("a process that ignores the stop signal is killed after the timeout", async () => {
    const id = await create(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"]);
    await shim.rt.startContainer({ containerId: id });
    const t0 = Date.now();
    await shim.rt.stopContainer({ containerId: id, timeout: 1n });
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 5000, `waited the timeout (${took} ms)`);
    const s = await status(id);
    assert.equal(s.exitCode, 137);
    assert.match(s.message, /SIGKILL/);
  });

  test("timeout 0 kills at once; stopping a created container leaves it created", async () => {
    const id = await create(["sh", "-c", "trap '' TERM; sleep 30"]);
    await shim.rt.stopContainer({ containerId: id, timeout: 0n });
    assert.equal((await status(id)).state, ContainerState.CONTAINER_CREATED);
    await shim.rt.startContainer({ containerId: id });
    await shim.rt.stopContainer({ containerId: id, timeout: 0n });
    assert.equal((await status(id)).exitCode, 137);
  });

  test("exit codes and reasons of containers that end by themselves", async () => {
    const ok = await create(["true"]);
    const three = await create(["sh", "-c", "exit 3"]);
    await shim.rt.startContainer({ containerId: ok });
    await shim.rt.startContainer({ containerId: three });
    const a = await exited(ok);
    assert.equal(a.exitCode, 0);
    assert.equal(a.reason, "Completed");
    assert.ok(a.finishedAt >= a.startedAt);
    const b = await exited(three);
    assert.equal(b.exitCode, 3);
    assert.equal(b.reason, "Error");
  });

  test("a start Porto refuses: the error reaches the caller, and the container reads exited with StartError", async () => {
    const id = await create(["/no/such/binary"]);
    await assert.rejects(shim.rt.startContainer({ containerId: id }));
    const s = await status(id);
    assert.equal(s.state, ContainerState.CONTAINER_EXITED);
    assert.equal(s.exitCode, 128);
    assert.equal(s.reason, "StartError");
    assert.match(s.message, /no\/such\/binary/);
    await shim.rt.removeContainer({ containerId: id });
  });

  test("status, start and stop of unknown or ambiguous ids", async () => {
    await assert.rejects(shim.rt.containerStatus({ containerId: "e".repeat(64) }), code(Code.NotFound));
    await assert.rejects(shim.rt.startContainer({ containerId: "e".repeat(64) }), code(Code.NotFound));
    await assert.rejects(shim.rt.containerStatus({ containerId: "" }), code(Code.InvalidArgument));
    const byFirst = new Set<string>();
    let shared: string | undefined;
    while (!shared) {
      const id = await create(["true"]);
      if (byFirst.has(id[0])) shared = id[0];
      byFirst.add(id[0]);
    }
    await assert.rejects(shim.rt.containerStatus({ containerId: shared }), (e: unknown) =>
      code(Code.NotFound)(e) && /ambiguous/.test(ConnectError.from(e).rawMessage),
    );
    await assert.rejects(shim.rt.stopContainer({ containerId: shared }), code(Code.InvalidArgument));
    await assert.rejects(shim.rt.removeContainer({ containerId: shared }), code(Code.InvalidArgument));
  });
});

describe("RemoveContainer", () => {
  test("removes created, running and exited containers with their Porto container, root and record", async () => {
    for (const run of ["created", "running", "exited"] as const) {
      const id = await create(["sleep", "30"]);
      if (run !== "created") await shim.rt.startContainer({ containerId: id });
      if (run === "exited") await shim.rt.stopContainer({ containerId: id, timeout: 0n });
      await shim.rt.removeContainer({ containerId: id.slice(0, 13) });
      assert.equal(shim.double.state.containers.has(containerPortoName(podId, id)), false, run);
      await assert.rejects(stat(join(shim.volumesDir, id)), { code: "ENOENT" });
      assert.equal((await recordFiles()).includes(`${id}.json`), false);
      await assert.rejects(shim.rt.containerStatus({ containerId: id }), code(Code.NotFound));
      await shim.rt.removeContainer({ containerId: id });
    }
    await shim.rt.removeContainer({ containerId: "e".repeat(64) });
  });

  test("a container whose Porto container vanished reads UNKNOWN and can be stopped and removed", async () => {
    const id = await create(["sleep", "30"]);
    await shim.porto.destroy(containerPortoName(podId, id));
    assert.equal((await status(id)).state, ContainerState.CONTAINER_UNKNOWN);
    await shim.rt.stopContainer({ containerId: id, timeout: 0n });
    await shim.rt.removeContainer({ containerId: id });
    await assert.rejects(shim.rt.containerStatus({ containerId: id }), code(Code.NotFound));
  });
});

describe("pods and their containers", () => {
  test("StopPodSandbox kills every container and keeps their exits; RemovePodSandbox removes them", async () => {
    const pod = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const running = await create(["sleep", "30"], {}, pod);
    const created = await create(["sleep", "30"], {}, pod);
    await shim.rt.startContainer({ containerId: running });
    await shim.rt.stopPodSandbox({ podSandboxId: pod });
    const r = await status(running);
    assert.equal(r.state, ContainerState.CONTAINER_EXITED);
    assert.equal(r.exitCode, 137);
    assert.equal((await status(created)).state, ContainerState.CONTAINER_CREATED);
    const ps = await shim.rt.podSandboxStatus({ podSandboxId: pod });
    assert.deepEqual(ps.containersStatuses.map((c) => c.id).sort(), [running, created].sort());
    await assert.rejects(shim.rt.startContainer({ containerId: created }), code(Code.FailedPrecondition));

    await shim.rt.removePodSandbox({ podSandboxId: pod });
    for (const id of [running, created]) {
      await assert.rejects(shim.rt.containerStatus({ containerId: id }), code(Code.NotFound));
      assert.equal((await recordFiles()).includes(`${id}.json`), false);
      await assert.rejects(stat(join(shim.volumesDir, id)), { code: "ENOENT" });
    }
    assert.equal(shim.double.state.containers.has(podPortoName(pod)), false);
  });
});

describe("ListContainers", () => {
  test("filters by id prefix, pod id prefix, state and labels, oldest first", async () => {
    const pod = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const a = await create(["sleep", "30"], { labels: { role: "a", tier: "x" } }, pod);
    const b = await create(["sleep", "30"], { labels: { role: "b", tier: "x" } }, pod);
    const c = await create(["true"], { labels: { role: "c" } }, pod);
    await shim.rt.startContainer({ containerId: b });
    await shim.rt.startContainer({ containerId: c });
    await exited(c);
    type Filter = Parameters<Shim["rt"]["listContainers"]>[0]["filter"];
    const ids = async (filter: Filter) => (await shim.rt.listContainers({ filter })).containers.map((x) => x.id);

    assert.deepEqual(await ids({ podSandboxId: pod.slice(0, 13) }), [a, b, c]);
    assert.deepEqual(await ids({ podSandboxId: pod, state: { state: ContainerState.CONTAINER_CREATED } }), [a]);
    assert.deepEqual(await ids({ podSandboxId: pod, state: { state: ContainerState.CONTAINER_RUNNING } }), [b]);
    assert.deepEqual(await ids({ podSandboxId: pod, state: { state: ContainerState.CONTAINER_EXITED } }), [c]);
    assert.deepEqual(await ids({ podSandboxId: pod, labelSelector: { tier: "x" } }), [a, b]);
    assert.deepEqual(await ids({ podSandboxId: pod, labelSelector: { tier: "x", role: "b" } }), [b]);
    assert.deepEqual(await ids({ id: b.slice(0, 13) }), [b]);
    assert.deepEqual(await ids({ id: b, podSandboxId: podId }), [], "id and pod must both match");
    assert.deepEqual(await ids({ podSandboxId: "e".repeat(64) }), []);
    assert.deepEqual(await ids({ id: "e".repeat(64) }), []);
    const all = (await shim.rt.listContainers({})).containers;
    assert.ok(all.length >= 3);
    const item = all.find((x) => x.id === b)!;
    assert.equal(item.podSandboxId, pod);
    assert.equal(item.state, ContainerState.CONTAINER_RUNNING);
    assert.equal(item.image?.image, BUSYBOX);
    assert.match(item.imageRef, /sha256:/);
    assert.deepEqual(item.labels, { role: "b", tier: "x" });
  });
});

describe("a shim restart between calls", () => {
  test("pods and containers survive with metadata and times; stop and remove work after it", async () => {
    const pod = (await shim.rt.runPodSandbox({ config: podConfig({ labels: { keep: "me" } }) })).podSandboxId;
    const id = await create(["sleep", "30"], { annotations: { a: "ü" } }, pod);
    await shim.rt.startContainer({ containerId: id });
    const before = await status(id);
    await shim.restart();
    const after = await status(id);
    assert.deepEqual(after, before);
    assert.deepEqual((await shim.rt.listPodSandbox({ filter: { id: pod } })).items[0].labels, { keep: "me" });
    await shim.rt.stopContainer({ containerId: id.slice(0, 13), timeout: 5n });
    assert.equal((await status(id)).exitCode, 143);
    await shim.rt.removeContainer({ containerId: id });
    await shim.rt.stopPodSandbox({ podSandboxId: pod });
    await shim.rt.removePodSandbox({ podSandboxId: pod });
  });
});

describe("concurrent calls", () => {
  test("many pods and containers at once; stop, remove and status of one container racing each other", async () => {
    const pods = await Promise.all(Array.from({ length: 8 }, () => shim.rt.runPodSandbox({ config: podConfig() })));
    const ids = await Promise.all(
      pods.flatMap(({ podSandboxId }) => [0, 1].map(() => create(["sleep", "30"], {}, podSandboxId))),
    );
    await Promise.all(ids.map((id) => shim.rt.startContainer({ containerId: id })));
    for (const id of ids) assert.equal((await status(id)).state, ContainerState.CONTAINER_RUNNING);
    // kubelet may retry a stop while the first is still in flight, and remove right behind it.
    const [victim] = ids;
    const results = await Promise.allSettled([
      shim.rt.stopContainer({ containerId: victim, timeout: 5n }),
      shim.rt.stopContainer({ containerId: victim, timeout: 5n }),
      shim.rt.removeContainer({ containerId: victim }),
      shim.rt.removeContainer({ containerId: victim }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    await assert.rejects(shim.rt.containerStatus({ containerId: victim }), code(Code.NotFound));
    // Removing every pod at once takes every container along.
    await Promise.all(pods.map(({ podSandboxId }) => shim.rt.removePodSandbox({ podSandboxId })));
    for (const id of ids) await assert.rejects(shim.rt.containerStatus({ containerId: id }), code(Code.NotFound));
    for (const { podSandboxId } of pods) assert.equal(shim.double.state.containers.has(podPortoName(podSandboxId)), false);
  });
});

describe("stdin for attach", () => {
  test("a container created with stdin gets a prepared stdin_path at start, released at removal", async () => {
    const calls: string[] = [];
    let startedCalled = 0;
    let stdinPath = "";
    shim.deps.stdio = {
      prepareStdin: async (id, once) => {
        calls.push(`prepare ${id} ${once}`);
        // As the real one: a descriptor of ours that portod re-opens, closed once the start returned.
        const fd = openSync("/dev/null", "r");
        stdinPath = `/dev/fd/${fd}`;
        return { stdinPath, started: () => void (startedCalled++, closeSync(fd)) };
      },
      prepareTty: async () => assert.fail("no container here asked for a terminal"),
      release: (id) => void calls.push(`release ${id}`),
    };
    try {
      const withStdin = await create(["sleep", "30"], { stdin: true, stdinOnce: true });
      const without = await create(["sleep", "30"]);
      await shim.rt.startContainer({ containerId: withStdin });
      await shim.rt.startContainer({ containerId: without });
      assert.deepEqual(calls, [`prepare ${withStdin} true`]);
      assert.equal(startedCalled, 1);
      assert.equal(shim.double.state.containers.get(containerPortoName(podId, withStdin))?.stdin.path, stdinPath);
      await shim.rt.removeContainer({ containerId: withStdin });
      assert.deepEqual(calls.slice(1), [`release ${withStdin}`]);
    } finally {
      shim.deps.stdio = undefined;
    }
  });
});
