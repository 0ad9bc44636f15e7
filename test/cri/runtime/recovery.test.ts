/**
 * Failures and crashes: a failed call leaves nothing in Porto or on disk, and
 * a restarted shim finishes what a crash left half-made, without touching
 * what is not its own or what a call in flight is making. Also
 * UpdateRuntimeConfig, whose pod CIDR survives restarts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { PortoError } from "../../../src/porto/index.js";
import { EError } from "../../../gen/rpc_pb.js";
import { newId } from "../../../src/mapping/ids.js";
import { containerPortoName, podPortoName } from "../../../src/mapping/porto-names.js";
import { RECORD_VERSION, encodePodConfig } from "../../../src/runtime/records.js";
import { INSTANCE_LABEL } from "../../../src/runtime/owned-spec.js";
import type { ContainerRecord, PodRecord } from "../../../src/runtime/records.js";
import { CreateHook, ctrConfig, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

const createHook = new CreateHook();

let shim: Shim;
before(async () => {
  shim = await startShim({ wrapPorto: createHook.wrapPorto });
});
after(async () => {
  await shim.close();
});

const list = async (kind: string) => (await readdir(join(shim.stateDir, kind))).filter((f) => f.endsWith(".json")).sort();

describe("a failed call leaves nothing behind", () => {
  test("RunPodSandbox failing in Porto: no container, no record, the name is free again", async () => {
    const config = podConfig();
    const records = await list("pods");
    let name = "";
    createHook.next = async (n) => {
      name = n;
      throw new PortoError(EError.ResourceNotAvailable, "injected: out of containers");
    };
    await assert.rejects(shim.rt.runPodSandbox({ config }), (e: unknown) => ConnectError.from(e).code === Code.ResourceExhausted);
    assert.ok(name.startsWith("k8s-"));
    assert.equal(shim.double.state.containers.has(name), false);
    assert.deepEqual(await list("pods"), records);
    assert.deepEqual((await shim.rt.listPodSandbox({})).items.filter((p) => p.metadata?.name === config.metadata!.name), []);
    await shim.rt.runPodSandbox({ config });
  });

  test("CreateContainer failing in Porto: no container, no record, no root directory", async () => {
    const pod = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const config = ctrConfig(["sleep", "30"]);
    const records = await list("containers");
    let name = "";
    createHook.next = async (n) => {
      name = n;
      throw new PortoError(EError.NoSpace, "injected: disk full");
    };
    await assert.rejects(shim.rt.createContainer({ podSandboxId: pod, config }), (e: unknown) => ConnectError.from(e).code === Code.ResourceExhausted);
    const id = name.split("/")[1];
    assert.equal(shim.double.state.containers.has(name), false);
    assert.deepEqual(await list("containers"), records);
    await assert.rejects(stat(join(shim.volumesDir, id)), { code: "ENOENT" });
    await shim.rt.createContainer({ podSandboxId: pod, config });
  });
});

describe("start-up reconciliation", () => {
  test("drops records a crash left without Porto containers, with their root directories", async () => {
    const podId = newId();
    const ctrId = newId();
    const config = podConfig();
    const pod: PodRecord = { v: RECORD_VERSION, id: podId, config: encodePodConfig(config), runtimeHandler: "", createdAtNs: "1", state: "ready" };
    const rootPath = join(shim.volumesDir, ctrId);
    const ctr: ContainerRecord = {
      v: RECORD_VERSION,
      id: ctrId,
      podId,
      config: "",
      createdAtNs: "2",
      image: { requested: "x", id: "sha256:x", ref: "sha256:x", name: "x" },
      logPath: "",
      stopSignal: 15,
      rootPath,
    };
    await writeFile(join(shim.stateDir, "pods", `${podId}.json`), JSON.stringify(pod));
    await writeFile(join(shim.stateDir, "containers", `${ctrId}.json`), JSON.stringify(ctr));
    await mkdir(rootPath, { recursive: true });
    // A live pod with a container record whose Porto container never came to be.
    const live = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const lostId = newId();
    await writeFile(join(shim.stateDir, "containers", `${lostId}.json`), JSON.stringify({ ...ctr, id: lostId, podId: live, rootPath: undefined }));

    await shim.restart();
    assert.equal((await list("pods")).includes(`${podId}.json`), false);
    assert.equal((await list("containers")).includes(`${ctrId}.json`), false);
    assert.equal((await list("containers")).includes(`${lostId}.json`), false);
    await assert.rejects(stat(rootPath), { code: "ENOENT" });
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: podId }), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: live })).status?.id, live, "the live pod stays");
  });

  test("destroys this instance's Porto containers without a record, and nothing else", async () => {
    const orphanPod = podPortoName(newId());
    const owned = { map: [{ key: "CRI.managed", val: "portoshim" }, { key: INSTANCE_LABEL, val: shim.state.instance }] };
    // Another portoshim on the same portod, with a state dir of its own: not an orphan of ours.
    const otherShims = podPortoName(newId());
    await shim.porto.createFromSpec({ name: otherShims, labels: { map: [owned.map[0], { key: INSTANCE_LABEL, val: "0123456789abcdef" }] } });
    await shim.porto.createFromSpec({ name: orphanPod, labels: owned }, { start: true });
    const live = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const orphanChild = containerPortoName(live, newId());
    await shim.porto.createFromSpec({ name: orphanChild, labels: owned });
    const notOurs = podPortoName(newId());
    await shim.porto.createFromSpec({ name: notOurs });

    await shim.restart();
    assert.equal(shim.double.state.containers.has(orphanPod), false);
    assert.equal(shim.double.state.containers.has(orphanChild), false);
    assert.equal(shim.double.state.containers.has(podPortoName(live)), true);
    assert.equal(shim.double.state.containers.has(notOurs), true, "a container without the label is not the shim's");
    assert.equal(shim.double.state.containers.has(otherShims), true, "nor one of another state directory");
    await shim.porto.destroy(notOurs);
    await shim.porto.destroy(otherShims);
  });

  test("reconciling while a pod is being created leaves it alone", async () => {
    let reconciled!: Promise<unknown>;
    createHook.next = async () => {
      // The record is on disk, the Porto container not yet there.
      reconciled = shim.state.reconcile();
      await reconciled;
    };
    const { podSandboxId } = await shim.rt.runPodSandbox({ config: podConfig() });
    await reconciled;
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId })).status?.id, podSandboxId);
    assert.ok((await list("pods")).includes(`${podSandboxId}.json`));
  });
});

describe("start-up reconciliation and creations in flight", () => {
  test("leaves a Porto container alone whose record is still being written", async () => {
    const pods = shim.state.pods;
    const put = pods.put.bind(pods);
    let reconciled: Promise<unknown> | undefined;
    pods.put = async (id, record) => {
      // The Porto container is made meanwhile; reconcile before the record lands.
      await eventuallyExists(podPortoName(id));
      reconciled = shim.state.reconcile();
      await reconciled;
      return put(id, record);
    };
    try {
      const { podSandboxId } = await shim.rt.runPodSandbox({ config: podConfig() });
      assert.ok(reconciled, "reconciliation ran in the window");
      assert.equal(shim.double.state.containers.has(podPortoName(podSandboxId)), true);
      assert.equal((await shim.rt.podSandboxStatus({ podSandboxId })).status?.state, 0);
    } finally {
      pods.put = put;
    }
  });
});

async function eventuallyExists(name: string): Promise<void> {
  for (let i = 0; i < 200 && !shim.double.state.containers.has(name); i++) await new Promise((r) => setTimeout(r, 5));
}

describe("UpdateRuntimeConfig", () => {
  test("keeps the pod CIDR across restarts and refuses what is not a CIDR", async () => {
    await shim.rt.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: "10.244.1.0/24,fd00:10:244:1::/64" } } });
    await shim.restart();
    assert.equal(shim.state.podCidr, "10.244.1.0/24,fd00:10:244:1::/64");
    const { podSandboxId } = await shim.rt.runPodSandbox({ config: podConfig() });
    const info = JSON.parse((await shim.rt.podSandboxStatus({ podSandboxId, verbose: true })).info.info);
    assert.equal(info.podCidr, "10.244.1.0/24,fd00:10:244:1::/64");
    await assert.rejects(
      shim.rt.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: "10.0.0.0/33" } } }),
      (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument && /pod_cidr/.test(ConnectError.from(e).rawMessage),
    );
    // An empty config changes nothing.
    await shim.rt.updateRuntimeConfig({});
    assert.equal(shim.state.podCidr, "10.244.1.0/24,fd00:10:244:1::/64");
  });
});
