/**
 * RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
 * ListPodSandbox through the CRI server, against the Porto double.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { NamespaceMode, PodSandboxState } from "../../../gen/runtime/v1/api_pb.js";
import { MANAGED_LABEL, podPortoName } from "../../../src/mapping/porto-names.js";
import { INSTANCE_LABEL, KEEP_DEAD_SECONDS } from "../../../src/runtime/owned-spec.js";
import { podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

let shim: Shim;
before(async () => {
  shim = await startShim();
});
after(async () => {
  await shim.close();
});

const code = (c: Code) => (err: unknown) => ConnectError.from(err).code === c;

async function records(kind: "pods" | "containers"): Promise<string[]> {
  return (await readdir(join(shim.stateDir, kind))).filter((f) => f.endsWith(".json"));
}

describe("RunPodSandbox", () => {
  test("makes a running Porto container holding the pod, owned and never aged away", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    assert.match(id, /^[0-9a-f]{64}$/);
    const ct = shim.double.state.containers.get(podPortoName(id));
    assert.ok(ct, "the pod's Porto container exists");
    assert.equal(ct.state, "meta");
    assert.equal(ct.labels.get(MANAGED_LABEL), "portoshim");
    assert.equal(ct.labels.get(INSTANCE_LABEL), shim.state.instance);
    assert.equal(ct.agingTimeMs, Number(KEEP_DEAD_SECONDS) * 1000);
    assert.equal(ct.weak, false);
    const st = await shim.rt.podSandboxStatus({ podSandboxId: id });
    assert.equal(st.status?.state, PodSandboxState.SANDBOX_READY);
  });

  test("metadata, labels and annotations come back byte-exact, whatever they hold", async () => {
    const big = "ü✓\u{1F600}".repeat(256 * 1024 / 9);
    const config = podConfig({
      labels: { "app.kubernetes.io/name": "web", "ключ": "значение", "": "empty key" },
      annotations: { "kubernetes.io/config.seen": "2024-01-01T00:00:00Z", huge: big, "sp ace": "a\nb\u0000c" },
    });
    config.metadata!.name = "naïve-pod ✓";
    config.metadata!.attempt = 7;
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config });
    const check = async () => {
      const st = (await shim.rt.podSandboxStatus({ podSandboxId: id })).status!;
      assert.deepEqual(st.metadata, config.metadata);
      assert.deepEqual(st.labels, config.labels);
      assert.deepEqual(st.annotations, config.annotations);
      const listed = (await shim.rt.listPodSandbox({ filter: { id } })).items;
      assert.equal(listed.length, 1);
      assert.deepEqual(listed[0].annotations, config.annotations);
    };
    await check();
    await shim.restart();
    await check();
  });

  test("the same metadata and attempt again is AlreadyExists; another attempt is a new pod", async () => {
    const config = podConfig();
    const first = await shim.rt.runPodSandbox({ config });
    await assert.rejects(shim.rt.runPodSandbox({ config }), code(Code.AlreadyExists));
    // Even concurrently only one wins.
    const again = podConfig();
    const results = await Promise.allSettled([shim.rt.runPodSandbox({ config: again }), shim.rt.runPodSandbox({ config: again })]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    config.metadata!.attempt = 1;
    const second = await shim.rt.runPodSandbox({ config });
    assert.notEqual(second.podSandboxId, first.podSandboxId);
  });

  test("an invalid config is InvalidArgument naming the field, and leaves nothing", async () => {
    const before = await records("pods");
    await assert.rejects(shim.rt.runPodSandbox({}), (e: unknown) => code(Code.InvalidArgument)(e) && /config/.test(ConnectError.from(e).rawMessage));
    const noName = podConfig();
    noName.metadata!.name = "";
    await assert.rejects(shim.rt.runPodSandbox({ config: noName }), (e: unknown) => /config\.metadata\.name/.test(ConnectError.from(e).rawMessage));
    await assert.rejects(shim.rt.runPodSandbox({ config: podConfig(), runtimeHandler: "kata" }), (e: unknown) =>
      /runtime_handler/.test(ConnectError.from(e).rawMessage),
    );
    assert.deepEqual(await records("pods"), before);
    // The configured runtime name is a handler too.
    await shim.rt.runPodSandbox({ config: podConfig(), runtimeHandler: "porto" });
  });

  test("host network: the pod's Porto container shares the host's namespace", async () => {
    const config = podConfig({ linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER } } } });
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config });
    const st = await shim.rt.podSandboxStatus({ podSandboxId: id });
    assert.equal(st.status?.linux?.namespaces?.options?.network, NamespaceMode.NODE);
    assert.equal(st.status?.linux?.namespaces?.options?.pid, NamespaceMode.CONTAINER);
    assert.equal(st.status?.network?.ip, "");
  });
});

describe("PodSandboxStatus", () => {
  test("by full id and by prefix; unknown or ambiguous prefixes are NotFound", async () => {
    const ids: string[] = [];
    // Two pods whose ids share a first hex digit turn up within 17 pods.
    const byFirst = new Map<string, string>();
    let shared: string | undefined;
    while (!shared) {
      const { podSandboxId } = await shim.rt.runPodSandbox({ config: podConfig() });
      ids.push(podSandboxId);
      if (byFirst.has(podSandboxId[0])) shared = podSandboxId[0];
      byFirst.set(podSandboxId[0], podSandboxId);
    }
    const id = ids[0];
    const st = await shim.rt.podSandboxStatus({ podSandboxId: id.slice(0, 13) });
    assert.equal(st.status?.id, id);
    assert.equal(st.status?.createdAt !== 0n, true);
    assert.equal(st.status?.runtimeHandler, "");
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: shared }), (e: unknown) =>
      code(Code.NotFound)(e) && /ambiguous/.test(ConnectError.from(e).rawMessage),
    );
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: "0".repeat(64) }), code(Code.NotFound));
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: "not-hex" }), code(Code.NotFound));
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: "" }), code(Code.InvalidArgument));
  });

  test("verbose adds one JSON info document with the config", async () => {
    const config = podConfig({ labels: { a: "b" } });
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config });
    const plain = await shim.rt.podSandboxStatus({ podSandboxId: id });
    assert.deepEqual(plain.info, {});
    const st = await shim.rt.podSandboxStatus({ podSandboxId: id, verbose: true });
    const info = JSON.parse(st.info.info);
    assert.equal(info.portoName, podPortoName(id));
    assert.equal(info.portoState, "meta");
    assert.equal(info.config.metadata.name, config.metadata!.name);
    assert.ok(st.timestamp > 0n);
  });
});

describe("ListPodSandbox", () => {
  test("filters by id prefix, state and label selector, oldest first", async () => {
    const tag = `t${Date.now()}`;
    const a = (await shim.rt.runPodSandbox({ config: podConfig({ labels: { suite: tag, role: "a" } }) })).podSandboxId;
    const b = (await shim.rt.runPodSandbox({ config: podConfig({ labels: { suite: tag, role: "b" } }) })).podSandboxId;
    const c = (await shim.rt.runPodSandbox({ config: podConfig({ labels: { suite: tag, role: "c" } }) })).podSandboxId;
    await shim.rt.stopPodSandbox({ podSandboxId: b });

    const ids = async (filter: Parameters<Shim["rt"]["listPodSandbox"]>[0]["filter"]) =>
      (await shim.rt.listPodSandbox({ filter })).items.map((p) => p.id);
    assert.deepEqual(await ids({ labelSelector: { suite: tag } }), [a, b, c]);
    assert.deepEqual(await ids({ labelSelector: { suite: tag, role: "b" } }), [b]);
    assert.deepEqual(await ids({ labelSelector: { suite: tag, role: "x" } }), []);
    assert.deepEqual(await ids({ labelSelector: { suite: tag }, state: { state: PodSandboxState.SANDBOX_NOTREADY } }), [b]);
    assert.deepEqual(await ids({ labelSelector: { suite: tag }, state: { state: PodSandboxState.SANDBOX_READY } }), [a, c]);
    assert.deepEqual(await ids({ id: c.slice(0, 13) }), [c]);
    assert.deepEqual(await ids({ id: c }), [c]);
    assert.deepEqual(await ids({ id: "f".repeat(64) }), []);
    const all = (await shim.rt.listPodSandbox({})).items;
    assert.ok(all.length >= 3);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt < all[i].createdAt, "creation order");
    const item = all.find((p) => p.id === a)!;
    assert.equal(item.state, PodSandboxState.SANDBOX_READY);
    assert.equal(item.metadata?.uid.startsWith("uid-"), true);
  });

  test("shows no Porto container the shim does not own", async () => {
    await shim.porto.create("k8s-foreign");
    await shim.porto.create(podPortoName("a".repeat(64)));
    const all = (await shim.rt.listPodSandbox({})).items;
    assert.equal(all.some((p) => p.id === "a".repeat(64)), false);
    await shim.restart();
    assert.ok(shim.double.state.containers.has("k8s-foreign"), "reconciliation left a foreign container alone");
    assert.ok(shim.double.state.containers.has(podPortoName("a".repeat(64))), "and one without the managed label");
    await shim.porto.destroy("k8s-foreign");
    await shim.porto.destroy(podPortoName("a".repeat(64)));
  });
});

describe("StopPodSandbox and RemovePodSandbox", () => {
  test("stop makes the pod NOTREADY for good; stopping twice or something unknown succeeds", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    await shim.rt.stopPodSandbox({ podSandboxId: id.slice(0, 13) });
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: id })).status?.state, PodSandboxState.SANDBOX_NOTREADY);
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    await shim.rt.stopPodSandbox({ podSandboxId: "e".repeat(64) });
    await shim.rt.stopPodSandbox({ podSandboxId: "b9e2c6a4-0000-4000-8000-000000000000" });
    await shim.restart();
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: id })).status?.state, PodSandboxState.SANDBOX_NOTREADY);
  });

  test("remove takes the Porto container and the record; removing twice or something unknown succeeds", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    await shim.rt.removePodSandbox({ podSandboxId: id.slice(0, 13) });
    assert.equal(shim.double.state.containers.has(podPortoName(id)), false);
    assert.equal((await records("pods")).includes(`${id}.json`), false);
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: id }), code(Code.NotFound));
    assert.deepEqual((await shim.rt.listPodSandbox({ filter: { id } })).items, []);
    await shim.rt.removePodSandbox({ podSandboxId: id });
    await shim.rt.removePodSandbox({ podSandboxId: "e".repeat(64) });
  });

  test("remove of a ready pod stops it first", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.equal(shim.double.state.containers.has(podPortoName(id)), false);
  });

  test("a pod whose Porto container vanished reads NOTREADY and can still be removed", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    await shim.porto.destroy(podPortoName(id));
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: id })).status?.state, PodSandboxState.SANDBOX_NOTREADY);
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    await shim.rt.removePodSandbox({ podSandboxId: id });
    await assert.rejects(shim.rt.podSandboxStatus({ podSandboxId: id }), code(Code.NotFound));
  });
});
