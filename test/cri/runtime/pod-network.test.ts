/**
 * The pod lifecycle with a pod network plugged in, through the CRI server and
 * the Porto double (which does not model network namespaces): a fake network
 * records each call together with what existed at that moment, so the tests
 * see the order (set-up before the Porto container, DEL after the containers
 * died, removal after the destroy and before the record goes), the cleanup of
 * failures, the IPs in the status, the pod CIDR, and start-up reconciliation.
 * Then the same with the real PodNetwork behind the adapter, with fake CNI
 * plugins and in-memory namespaces (no root needed).
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { ContainerEventType, NamespaceMode, PodSandboxState } from "../../../gen/runtime/v1/api_pb.js";
import type { ContainerEventResponse, PodSandboxConfig } from "../../../gen/runtime/v1/api_pb.js";
import { EError } from "../../../gen/rpc_pb.js";
import { containerPortoName, podPortoName } from "../../../src/mapping/porto-names.js";
import { PortoError } from "../../../src/porto/index.js";
import { PodNetwork as CniPodNetwork } from "../../../src/network/pod-network.js";
import type { NetnsOps, ReconcileReport, SetUpHooks } from "../../../src/network/pod-network.js";
import { cniPodNetwork } from "../../../src/runtime/network.js";
import type { PodNetwork, PodNetworkSetup } from "../../../src/runtime/network.js";
import { CreateHook, ctrConfig, eventually, lateNetwork, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";
import { fakeResult, invocations, writeFakePlugin } from "../../network/fake-plugins.js";

const code = (c: Code) => (err: unknown) => ConnectError.from(err).code === c;

interface Call {
  op: "portoNetns" | "setUp" | "tearDown" | "remove" | "setPodCidrs" | "reconcile";
  podId: string;
  /** The pod's Porto container's state when the call was made ("" when it did not exist). */
  portoState: string;
  /** Whether the pod's record was on disk. */
  recorded: boolean;
  /** States of the pod's containers in Porto. */
  containers: string[];
  arg?: unknown;
}

/** An in-memory network: pod id -> IPs while up, "down" after DEL. */
class FakeNetwork implements PodNetwork {
  calls: Call[] = [];
  nets = new Map<string, { state: "adding" | "up" | "down"; ips: string[] }>();
  shim?: Shim;
  cidrs: string[] = [];
  next = 2;
  /** Failures to inject into the next call of that kind. */
  fail: Partial<Record<Call["op"], ConnectError>> = {};
  /** Ids reconcile reports as incomplete. */
  incomplete: string[] = [];
  refuseNetns = false;

  private note(op: Call["op"], podId: string, arg?: unknown): void {
    // Before startShim returns (its first reconcile) there is nothing to look at.
    const all = this.shim ? [...this.shim.double.state.containers.values()] : [];
    const ct = all.find((c) => c.name === podPortoName(podId));
    const containers = all.filter((c) => c.name.startsWith(`${podPortoName(podId)}/`)).map((c) => c.state);
    const recorded = this.shim !== undefined && podId !== "" && existsSync(join(this.shim.stateDir, "pods", `${podId}.json`));
    this.calls.push({ op, podId, portoState: ct?.state ?? "", recorded, containers, arg });
    const f = this.fail[op];
    if (f) {
      delete this.fail[op];
      throw f;
    }
  }

  ops(podId: string): string[] {
    return this.calls.filter((c) => c.podId === podId).map((c) => c.op);
  }

  call(podId: string, op: Call["op"]): Call {
    const c = this.calls.find((x) => x.podId === podId && x.op === op);
    assert.ok(c, `${op} was called for ${podId}`);
    return c;
  }

  portoNetns(podId: string): string {
    if (this.refuseNetns) throw new ConnectError("CNI.NetnsDir is not below /var/run/netns", Code.FailedPrecondition);
    return `portoshim-${podId}`;
  }

  /** A failure of ADD itself: after the namespace exists and namespaceReady was called, as the real network fails. */
  failAdd: ConnectError | undefined;
  /** The pod's Porto container's state when ADD finished ("" when it did not exist). */
  portoStateAfterAdd = new Map<string, string>();

  async setUp(podId: string, config: PodSandboxConfig, hooks?: SetUpHooks): Promise<PodNetworkSetup> {
    this.note("setUp", podId, config.metadata?.name);
    // As src/network: the namespace, then the hook, then the plugins (which take a while).
    hooks?.namespaceReady?.();
    await new Promise((r) => setTimeout(r, 20));
    this.portoStateAfterAdd.set(podId, this.shim?.double.state.containers.get(podPortoName(podId))?.state ?? "");
    const failed = this.failAdd;
    this.failAdd = undefined;
    if (failed) throw failed;
    const n = this.next++;
    const ips = [`10.98.0.${n}`, `fd98::${n.toString(16)}`];
    this.nets.set(podId, { state: "up", ips });
    return { netnsPath: `/var/run/netns/portoshim-${podId}`, ips };
  }

  async tearDown(podId: string): Promise<void> {
    this.note("tearDown", podId);
    const n = this.nets.get(podId);
    if (n) n.state = "down";
  }

  async remove(podId: string): Promise<void> {
    this.note("remove", podId);
    this.nets.delete(podId);
  }

  setPodCidrs(cidrs: readonly string[]): void {
    this.note("setPodCidrs", "", [...cidrs]);
    this.cidrs = [...cidrs];
  }

  async reconcile(live: Iterable<string>): Promise<ReconcileReport> {
    const ids = [...live];
    this.note("reconcile", "", ids);
    const removed = [...this.nets.keys()].filter((id) => !ids.includes(id));
    for (const id of removed) this.nets.delete(id);
    return { removed, strayNetns: [], incomplete: this.incomplete.filter((id) => ids.includes(id)), failed: [] };
  }
}

const createHook = new CreateHook();

const hostNetworkConfig = () =>
  podConfig({ linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } });

describe("with a fake pod network", () => {
  let shim: Shim;
  const net = new FakeNetwork();
  const podRecords = async () => (await readdir(join(shim.stateDir, "pods"))).filter((f) => f.endsWith(".json")).sort();

  before(async () => {
    shim = await startShim({ wrapPorto: createHook.wrapPorto, network: net });
    net.shim = shim;
  });
  after(async () => {
    await shim.close();
  });

  test("RunPodSandbox sets the network up after the pod's record; its Porto container, which joins the namespace, is made while ADD runs", async () => {
    const config = podConfig();
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config });
    assert.deepEqual(net.ops(id), ["setUp"]);
    const setUp = net.call(id, "setUp");
    assert.equal(setUp.portoState, "", "no Porto container before the namespace exists");
    assert.equal(setUp.recorded, true, "the pod's record is on disk first");
    assert.equal(setUp.arg, config.metadata!.name);
    assert.notEqual(net.portoStateAfterAdd.get(id), "", "the Porto container was made during ADD");
    const ct = shim.double.state.containers.get(podPortoName(id))!;
    assert.equal(ct.text.get("net"), `netns portoshim-${id}`);
  });

  test("PodSandboxStatus reports the pod IP and the additional IPs, IPv4 first, until the pod stops", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    const [v4, v6] = net.nets.get(id)!.ips;
    const st = await shim.rt.podSandboxStatus({ podSandboxId: id, verbose: true });
    assert.equal(st.status?.network?.ip, v4);
    assert.deepEqual(st.status?.network?.additionalIps.map((i) => i.ip), [v6]);
    assert.equal(JSON.parse(st.info.info!).netnsPath, `/var/run/netns/portoshim-${id}`);
    // The same after a restart: the record keeps them.
    await shim.restart();
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: id })).status?.network?.ip, v4);
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    const stopped = await shim.rt.podSandboxStatus({ podSandboxId: id });
    assert.equal(stopped.status?.state, PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(stopped.status?.network?.ip, "");
    assert.deepEqual(stopped.status?.network?.additionalIps, []);
  });

  test("the pod's events carry its IP (kubelet's evented PLEG reads it from there)", async () => {
    const ac = new AbortController();
    const got: ContainerEventResponse[] = [];
    const reading = (async () => {
      try {
        for await (const e of shim.rt.getContainerEvents({}, { signal: ac.signal })) got.push(e);
      } catch {
        // aborted
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    const started = await eventually("the pod's STARTED event", async () =>
      got.find((e) => e.containerId === id && e.containerEventType === ContainerEventType.CONTAINER_STARTED_EVENT),
    );
    assert.equal(started.podSandboxStatus?.network?.ip, net.nets.get(id)!.ips[0]);
    ac.abort();
    await reading;
  });

  test("StopPodSandbox runs DEL once the containers are dead; again is fine; RemovePodSandbox removes the network after the destroy, before the record", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    const { containerId } = await shim.rt.createContainer({ podSandboxId: id, config: ctrConfig(["sleep", "1000"]), sandboxConfig: podConfig() });
    await shim.rt.startContainer({ containerId });
    assert.equal(shim.double.state.containers.get(containerPortoName(id, containerId))?.state, "running");

    await shim.rt.stopPodSandbox({ podSandboxId: id });
    const down = net.call(id, "tearDown");
    assert.deepEqual(down.containers, ["dead"], "containers are dead before DEL");
    assert.equal(net.nets.get(id)?.state, "down");
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    assert.deepEqual(net.ops(id), ["setUp", "tearDown", "tearDown"]);

    await shim.rt.removePodSandbox({ podSandboxId: id });
    const rm = net.calls.filter((c) => c.podId === id && c.op === "remove");
    assert.equal(rm.length, 1);
    assert.equal(rm[0]!.portoState, "", "the Porto container is destroyed first");
    assert.equal(rm[0]!.recorded, true, "the pod's record goes after the network");
    assert.equal(net.nets.has(id), false);
    assert.ok(!(await podRecords()).includes(`${id}.json`));
    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.equal(net.ops(id).filter((o) => o === "remove").length, 1, "a pod that is gone is not looked for again");
  });

  test("RemovePodSandbox of a running pod stops it first: DEL, then the removal", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.deepEqual(net.ops(id), ["setUp", "tearDown", "remove"]);
  });

  test("a failing network removal fails RemovePodSandbox and keeps the pod listed, so kubelet retries", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    net.fail.remove = new ConnectError("umount: busy", Code.Internal);
    await assert.rejects(shim.rt.removePodSandbox({ podSandboxId: id }), code(Code.Internal));
    const listed = (await shim.rt.listPodSandbox({ filter: { id } })).items;
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.state, PodSandboxState.SANDBOX_NOTREADY);
    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.equal(net.nets.has(id), false);
    assert.deepEqual((await shim.rt.listPodSandbox({ filter: { id } })).items, []);
  });

  test("a failing DEL fails StopPodSandbox, the pod reads NOTREADY without IPs already, and the retry runs DEL again", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    net.fail.tearDown = new ConnectError("plugin bridge failed", Code.Unavailable);
    await assert.rejects(shim.rt.stopPodSandbox({ podSandboxId: id }), code(Code.Unavailable));
    const st = (await shim.rt.podSandboxStatus({ podSandboxId: id })).status!;
    assert.equal(st.state, PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(st.network?.ip, "");
    assert.equal(net.nets.get(id)?.state, "up");
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    assert.equal(net.nets.get(id)?.state, "down");
  });

  test("the Porto container failing after the set-up: the network is removed, nothing is left, the name is free", async () => {
    const config = podConfig();
    const before = await podRecords();
    let name = "";
    createHook.next = async (n) => {
      name = n;
      throw new PortoError(EError.ResourceNotAvailable, "injected: out of containers");
    };
    await assert.rejects(shim.rt.runPodSandbox({ config }), code(Code.ResourceExhausted));
    const id = name.slice("k8s-".length);
    assert.deepEqual(net.ops(id), ["setUp", "remove"]);
    assert.equal(net.nets.has(id), false);
    assert.equal(shim.double.state.containers.has(name), false);
    assert.deepEqual(await podRecords(), before);
    await shim.rt.runPodSandbox({ config });
  });

  test("a failing set-up fails RunPodSandbox with its code, after which remove finishes whatever it left", async () => {
    const config = podConfig();
    const before = await podRecords();
    const porto = shim.double.state.containers.size;
    net.fail.setUp = new ConnectError("failed to set up network: plugin bridge: no IP", Code.Unavailable);
    await assert.rejects(shim.rt.runPodSandbox({ config }), code(Code.Unavailable));
    const id = net.calls.at(-1)!.podId;
    assert.deepEqual(net.ops(id), ["setUp", "remove"]);
    assert.equal(shim.double.state.containers.size, porto);
    assert.deepEqual(await podRecords(), before);
    await shim.rt.runPodSandbox({ config });
  });

  test("ADD failing while the Porto container is being made: the container is destroyed once made, the network removed, nothing left", async () => {
    const config = podConfig();
    const before = await podRecords();
    const porto = shim.double.state.containers.size;
    // The creation outlives the failed ADD, so undo must wait for it rather than destroy too early.
    let name = "";
    createHook.next = async (n) => {
      name = n;
      await new Promise((r) => setTimeout(r, 60));
    };
    net.failAdd = new ConnectError("failed to set up network: plugin bridge: no IP", Code.Unavailable);
    await assert.rejects(shim.rt.runPodSandbox({ config }), code(Code.Unavailable));
    const id = name.slice("k8s-".length);
    assert.deepEqual(net.ops(id), ["setUp", "remove"]);
    assert.equal(shim.double.state.containers.has(name), false, "no Porto container left behind");
    assert.equal(shim.double.state.containers.size, porto);
    assert.deepEqual(await podRecords(), before);
    await shim.rt.runPodSandbox({ config });
  });

  test("a network portod cannot join is FailedPrecondition before anything is made", async () => {
    const before = await podRecords();
    const calls = net.calls.length;
    net.refuseNetns = true;
    try {
      await assert.rejects(shim.rt.runPodSandbox({ config: podConfig() }), code(Code.FailedPrecondition));
    } finally {
      net.refuseNetns = false;
    }
    assert.equal(net.calls.length, calls);
    assert.deepEqual(await podRecords(), before);
  });

  test("a config the mapping refuses costs no ADD", async () => {
    const calls = net.calls.length;
    const config = podConfig({ dnsConfig: { servers: ["1.1.1.1;evil"] } });
    await assert.rejects(shim.rt.runPodSandbox({ config }), code(Code.InvalidArgument));
    assert.equal(net.calls.length, calls);
  });

  test("hostNetwork pods never reach the network", async () => {
    const calls = net.calls.length;
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: hostNetworkConfig() });
    assert.equal(shim.double.state.containers.get(podPortoName(id))!.text.get("net"), "inherited");
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: id })).status?.network?.ip, "");
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.equal(net.calls.length, calls);
  });

  test("UpdateRuntimeConfig hands the pod CIDRs to the network", async () => {
    await shim.rt.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: "10.98.0.0/24,fd98::/64" } } });
    assert.deepEqual(net.cidrs, ["10.98.0.0/24", "fd98::/64"]);
    assert.equal(shim.state.podCidr, "10.98.0.0/24,fd98::/64");
  });

  test("start-up reconciles the networks with every pod that has a record: leftovers go, live pods stay", async () => {
    const { podSandboxId: live } = await shim.rt.runPodSandbox({ config: podConfig() });
    const gone = "f".repeat(64);
    net.nets.set(gone, { state: "up", ips: ["10.98.0.250"] });
    await shim.restart();
    const rec = net.calls.filter((c) => c.op === "reconcile").at(-1)!;
    const ids = rec.arg as string[];
    assert.ok(ids.includes(live));
    assert.deepEqual([...ids].sort(), shim.state.listPods().map((p) => p.record.id).sort());
    assert.equal(net.nets.has(gone), false);
    assert.equal(net.nets.get(live)?.state, "up");
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: live })).status?.state, PodSandboxState.SANDBOX_READY);
  });

  test("a pod whose ADD never finished is marked NOTREADY at start-up, so kubelet replaces it", async () => {
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config: podConfig() });
    net.incomplete = [id];
    try {
      await shim.restart();
    } finally {
      net.incomplete = [];
    }
    const st = (await shim.rt.podSandboxStatus({ podSandboxId: id })).status!;
    assert.equal(st.state, PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(st.network?.ip, "");
    await shim.rt.removePodSandbox({ podSandboxId: id });
  });
});

describe("with the real PodNetwork, fake plugins and in-memory namespaces", () => {
  let shim: Shim;
  let cni: CniPodNetwork;
  let log: string;
  const namespaces = new Set<string>();
  const NETNS_DIR = "/var/run/netns";

  const netns: NetnsOps = {
    create: async (dir, name) => {
      const p = join(dir, name);
      if (namespaces.has(p)) throw new Error(`${p} exists`);
      namespaces.add(p);
      return p;
    },
    remove: async (dir, name) => {
      namespaces.delete(join(dir, name));
    },
    list: async (dir) => [...namespaces].filter((p) => p.startsWith(`${dir}/`)).map((p) => p.slice(dir.length + 1)),
    isMounted: async (p) => namespaces.has(p),
  };

  before(async () => {
    // The network is made before the shim: its directories go in the shim's own temporary one.
    const late = lateNetwork();
    shim = await startShim({ network: late.network });
    const conf = join(shim.dir, "cni-conf");
    const bin = join(shim.dir, "cni-bin");
    log = join(shim.dir, "cni-calls.log");
    await mkdir(conf, { recursive: true });
    const result = fakeResult(`${NETNS_DIR}/x`, "fd98::9/64", "10.98.0.9/24");
    await writeFakePlugin(bin, "fakebridge", log, { result });
    await writeFakePlugin(bin, "portmap", log, { result });
    await writeFile(
      join(conf, "10-test.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "testnet",
        plugins: [{ type: "fakebridge" }, { type: "portmap", capabilities: { portMappings: true } }],
      }),
    );
    cni = await CniPodNetwork.open({ confDir: conf, binDir: bin, netnsDir: NETNS_DIR, pluginTimeoutMs: 10_000, stateDir: shim.stateDir, logger: pino({ level: "silent" }), netns });
    late.set(cniPodNetwork(cni, { netnsDir: NETNS_DIR }));
  });
  after(async () => {
    await shim.close();
  });
  beforeEach(async () => {
    await writeFile(log, "");
  });

  test("run, status, stop, remove: ADD with the pod's arguments and host ports, DEL, the namespace and the record go", async () => {
    const config = podConfig({ portMappings: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81 }] });
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config });
    const ns = `${NETNS_DIR}/portoshim-${id}`;
    assert.ok(namespaces.has(ns));
    assert.equal(shim.double.state.containers.get(podPortoName(id))!.text.get("net"), `netns portoshim-${id}`);
    const adds = await invocations(log);
    assert.deepEqual(adds.map((i) => `${i.type} ${i.command}`), ["fakebridge ADD", "portmap ADD"]);
    assert.equal(adds[0]!.containerId, id);
    assert.equal(adds[0]!.netns, ns);
    assert.match(adds[0]!.args, new RegExp(`K8S_POD_NAME=${config.metadata!.name};`));
    assert.match(adds[0]!.args, new RegExp(`K8S_POD_INFRA_CONTAINER_ID=${id};`));
    assert.deepEqual((adds[1]!.stdin.runtimeConfig as { portMappings: unknown }).portMappings, [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }]);

    const st = (await shim.rt.podSandboxStatus({ podSandboxId: id })).status!;
    assert.equal(st.network?.ip, "10.98.0.9");
    assert.deepEqual(st.network?.additionalIps.map((i) => i.ip), ["fd98::9"]);

    await writeFile(log, "");
    await shim.rt.stopPodSandbox({ podSandboxId: id });
    assert.deepEqual((await invocations(log)).map((i) => `${i.type} ${i.command}`), ["portmap DEL", "fakebridge DEL"]);
    assert.equal(cni.status(id)?.state, "down");
    assert.ok(namespaces.has(ns), "the namespace stays until removal");

    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.equal(namespaces.has(ns), false);
    assert.equal(cni.status(id), undefined);
    assert.equal(existsSync(join(shim.stateDir, "cni", `${id}.json`)), false);
  });

  test("a restart after a crash that left a network without a pod tears it down and removes it", async () => {
    const { podSandboxId: kept } = await shim.rt.runPodSandbox({ config: podConfig() });
    const { podSandboxId: lost } = await shim.rt.runPodSandbox({ config: podConfig() });
    // The crash: the pod's Porto container and record are gone, its network is not.
    await shim.porto.destroy(podPortoName(lost));
    await shim.state.deletePod(shim.state.pod(lost)!.record);
    await writeFile(log, "");
    await shim.restart();
    assert.equal(cni.status(lost), undefined);
    assert.equal(namespaces.has(`${NETNS_DIR}/portoshim-${lost}`), false);
    assert.deepEqual((await invocations(log)).map((i) => `${i.type} ${i.command} ${i.containerId === lost}`), ["portmap DEL true", "fakebridge DEL true"]);
    assert.equal(cni.status(kept)?.state, "up");
    assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: kept })).status?.network?.ip, "10.98.0.9");
    const records = (await readdir(join(shim.stateDir, "cni"))).filter((f) => f.endsWith(".json"));
    assert.deepEqual(records, [`${kept}.json`]);
    JSON.parse(await readFile(join(shim.stateDir, "cni", `${kept}.json`), "utf8"));
  });
});
