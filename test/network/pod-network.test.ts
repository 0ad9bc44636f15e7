/**
 * PodNetwork's bookkeeping with fake plugins and in-memory namespaces, so it
 * runs without root: ordering, records across a restart, failure cleanup,
 * reconciliation, config changes, error codes.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { PodNetwork } from "../../src/network/pod-network.js";
import type { NetnsOps, PodNetworkInput } from "../../src/network/pod-network.js";
import { fakeResult, invocations, writeFakePlugin } from "./fake-plugins.js";

const NETNS_DIR = "/var/run/netns";
let root: string;
let n = 0;

/** One test's world: its conf dir, bin dir, state dir, call log, namespaces. */
interface World {
  conf: string;
  bin: string;
  state: string;
  log: string;
  namespaces: Set<string>;
  netns: NetnsOps;
  open(extra?: { pluginTimeoutMs?: number }): Promise<PodNetwork>;
}

async function world(): Promise<World> {
  const base = join(root, `w${n++}`);
  const w = {
    conf: join(base, "conf"),
    bin: join(base, "bin"),
    state: join(base, "state"),
    log: join(base, "calls.log"),
    namespaces: new Set<string>(),
  } as World;
  await mkdir(w.conf, { recursive: true });
  w.netns = {
    create: async (dir, name) => {
      const p = join(dir, name);
      if (w.namespaces.has(p)) throw new Error(`${p} exists`);
      w.namespaces.add(p);
      return p;
    },
    remove: async (dir, name) => {
      w.namespaces.delete(join(dir, name));
    },
    list: async (dir) => [...w.namespaces].filter((p) => p.startsWith(`${dir}/`)).map((p) => p.slice(dir.length + 1)),
    isMounted: async (p) => w.namespaces.has(p),
  };
  w.open = (extra = {}) =>
    PodNetwork.open({
      confDir: w.conf,
      binDir: w.bin,
      netnsDir: NETNS_DIR,
      pluginTimeoutMs: extra.pluginTimeoutMs ?? 10_000,
      stateDir: w.state,
      logger: pino({ level: "silent" }),
      netns: w.netns,
    });
  return w;
}

async function conflist(w: World, plugins: object[], file = "10-test.conflist", cniVersion = "1.0.0"): Promise<void> {
  await writeFile(join(w.conf, file), JSON.stringify({ cniVersion, name: "testnet", plugins }));
}

function pod(id: string, extra: Partial<PodNetworkInput> = {}): PodNetworkInput {
  return { id, name: `pod-${id.slice(0, 4)}`, namespace: "ns1", uid: `uid-${id.slice(0, 4)}`, annotations: {}, portMappings: [], ...extra };
}

const ID1 = "1".repeat(64);
const ID2 = "2".repeat(64);
const ID3 = "3".repeat(64);
const nsPath = (id: string) => `${NETNS_DIR}/portoshim-${id}`;

function codeOf(err: unknown): Code | undefined {
  return err instanceof ConnectError ? err.code : undefined;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), "pod-network-"));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("life cycle", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  test("setUp creates the namespace, runs ADD there and reports IPv4 then IPv6; tearDown and remove undo it once", async () => {
    await writeFakePlugin(w.bin, "ipam-ish", w.log, { result: fakeResult(nsPath(ID1), "fd99::7/64", "10.99.0.7/24") });
    await writeFakePlugin(w.bin, "portmap", w.log, { result: fakeResult(nsPath(ID1), "fd99::7/64", "10.99.0.7/24") });
    await conflist(w, [{ type: "ipam-ish" }, { type: "portmap", capabilities: { portMappings: true } }]);
    const net = await w.open();
    const up = await net.setUp(pod(ID1, { portMappings: [{ protocol: 0, containerPort: 80, hostPort: 8080, hostIp: "" }] }));
    assert.deepEqual(up.ips, ["10.99.0.7", "fd99::7"]);
    assert.equal(up.netnsName, `portoshim-${ID1}`);
    assert.equal(up.netnsPath, nsPath(ID1));
    assert.equal(up.portoNet, `netns portoshim-${ID1}`);
    assert.ok(w.namespaces.has(nsPath(ID1)));
    assert.deepEqual(net.status(ID1), { state: "up", netnsName: up.netnsName, netnsPath: up.netnsPath, portoNet: up.portoNet, ips: up.ips });
    assert.deepEqual(await readdir(join(w.state, "cni")), [`${ID1}.json`]);

    await net.check(ID1);
    await net.tearDown(ID1);
    await net.tearDown(ID1);
    assert.equal(net.status(ID1)?.state, "down");
    assert.deepEqual(net.status(ID1)?.ips, []);
    assert.ok(w.namespaces.has(nsPath(ID1)), "the namespace stays until remove");
    await net.remove(ID1);
    await net.remove(ID1);
    assert.equal(net.status(ID1), undefined);
    assert.equal(w.namespaces.size, 0);
    assert.deepEqual(await readdir(join(w.state, "cni")), []);

    const calls = await invocations(w.log);
    assert.deepEqual(
      calls.map((c) => `${c.type} ${c.command}`),
      ["ipam-ish ADD", "portmap ADD", "ipam-ish CHECK", "portmap CHECK", "portmap DEL", "ipam-ish DEL"],
    );
    for (const c of calls) {
      assert.equal(c.netns, nsPath(ID1));
      assert.equal(c.containerId, ID1);
      assert.equal(c.args, `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod-1111;K8S_POD_INFRA_CONTAINER_ID=${ID1};K8S_POD_UID=uid-1111`);
    }
    assert.deepEqual(calls[1]!.stdin.runtimeConfig, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] });
    assert.equal(calls[0]!.stdin.runtimeConfig, undefined);
  });

  test("teardown after a restart uses the kept config and result, even with the config file gone", async () => {
    const result = fakeResult(nsPath(ID1), "10.99.0.8/24");
    await writeFakePlugin(w.bin, "solo", w.log, { result });
    await conflist(w, [{ type: "solo", marker: "as-added" }]);
    await (await w.open()).setUp(pod(ID1));
    await rm(join(w.conf, "10-test.conflist"));

    const again = await w.open();
    assert.deepEqual(again.status(ID1)?.ips, ["10.99.0.8"]);
    await again.tearDown(ID1);
    const del = (await invocations(w.log)).find((c) => c.command === "DEL")!;
    assert.equal(del.stdin.marker, "as-added");
    assert.deepEqual(del.stdin.prevResult, result);
  });

  test("DEL passes an empty CNI_NETNS when the namespace is gone", async () => {
    await writeFakePlugin(w.bin, "solo", w.log, { result: fakeResult(nsPath(ID1), "10.99.0.9/24") });
    await conflist(w, [{ type: "solo" }]);
    const net = await w.open();
    await net.setUp(pod(ID1));
    w.namespaces.clear(); // as after a reboot
    await net.remove(ID1);
    assert.equal((await invocations(w.log)).find((c) => c.command === "DEL")!.netns, "");
  });

  test("a second setUp for the same pod is AlreadyExists; bad input is InvalidArgument, before anything is made", async () => {
    await writeFakePlugin(w.bin, "solo", w.log, { result: fakeResult(nsPath(ID1), "10.99.0.10/24") });
    await conflist(w, [{ type: "solo" }]);
    const net = await w.open();
    await net.setUp(pod(ID1));
    await assert.rejects(net.setUp(pod(ID1)), (e) => codeOf(e) === Code.AlreadyExists);
    await assert.rejects(
      net.setUp(pod(ID2, { annotations: { "kubernetes.io/ingress-bandwidth": "lots" } })),
      (e) => codeOf(e) === Code.InvalidArgument && /ingress-bandwidth/.test((e as Error).message),
    );
    assert.equal(net.status(ID2), undefined);
    assert.ok(!w.namespaces.has(nsPath(ID2)));
  });
});

describe("failure cleanup", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  test("a plugin failing after ADD of another: DEL of all in reverse, namespace and record gone, Unavailable", async () => {
    await writeFakePlugin(w.bin, "good", w.log, { result: fakeResult(nsPath(ID1), "10.99.0.11/24") });
    await writeFakePlugin(w.bin, "bad", w.log, {
      failOn: ["ADD"],
      errorStdout: JSON.stringify({ cniVersion: "1.0.0", code: 11, msg: "iptables is locked" }),
    });
    await conflist(w, [{ type: "good" }, { type: "bad" }]);
    const net = await w.open();
    const err = await net.setUp(pod(ID1)).then(
      () => assert.fail("setUp should fail"),
      (e: unknown) => e as ConnectError,
    );
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /failed to set up network for pod sandbox 1+: CNI plugin "bad" failed \(add\): iptables is locked \(CNI error 11: try again later\)/);
    assert.deepEqual((await invocations(w.log)).map((c) => `${c.type} ${c.command}`), ["good ADD", "bad ADD", "bad DEL", "good DEL"]);
    assert.equal(w.namespaces.size, 0);
    assert.equal(net.status(ID1), undefined);
    assert.deepEqual(await readdir(join(w.state, "cni")), []);
  });

  test("a result without an IP for eth0 is a failure, cleaned up", async () => {
    await writeFakePlugin(w.bin, "noip", w.log, { result: { cniVersion: "1.0.0", interfaces: [], ips: [] } });
    await conflist(w, [{ type: "noip" }]);
    const net = await w.open();
    await assert.rejects(net.setUp(pod(ID1)), /gave the pod no IP address on eth0/);
    assert.deepEqual((await invocations(w.log)).map((c) => c.command), ["ADD", "DEL"]);
    assert.equal(w.namespaces.size, 0);
  });

  test("a hung plugin is killed at the deadline: DeadlineExceeded, and DEL ran", async () => {
    await writeFakePlugin(w.bin, "slow", w.log, { hangOnAdd: 60, result: fakeResult(nsPath(ID1), "10.99.0.12/24") });
    await conflist(w, [{ type: "slow" }]);
    const net = await w.open({ pluginTimeoutMs: 300 });
    await assert.rejects(net.setUp(pod(ID1)), (e) => codeOf(e) === Code.DeadlineExceeded);
    assert.deepEqual((await invocations(w.log)).map((c) => c.command), ["ADD", "DEL"]);
    assert.equal(w.namespaces.size, 0);
  });

  test("when DEL fails too, the record stays so remove (or the next start) finishes the job", async () => {
    await writeFakePlugin(w.bin, "stuck", w.log, { failOn: ["ADD", "DEL"] });
    await conflist(w, [{ type: "stuck" }]);
    const net = await w.open();
    await assert.rejects(net.setUp(pod(ID1)));
    assert.equal(net.status(ID1)?.state, "adding");
    await assert.rejects(net.remove(ID1), (e) => codeOf(e) === Code.Unavailable);
    await writeFakePlugin(w.bin, "stuck", w.log, {});
    await net.remove(ID1);
    assert.equal(net.status(ID1), undefined);
    assert.equal(w.namespaces.size, 0);
  });
});

describe("config and reconciliation", () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
  });

  test("no config: FailedPrecondition and nothing made; a config installed later is used without reopening", async () => {
    const net = await w.open();
    assert.equal((await net.ready()).ok, false);
    await assert.rejects(net.setUp(pod(ID1)), (e) => codeOf(e) === Code.FailedPrecondition && /cni plugin not initialized/.test((e as Error).message));
    assert.equal(w.namespaces.size, 0);
    assert.equal(net.status(ID1), undefined);

    await writeFakePlugin(w.bin, "late", w.log, { result: fakeResult(nsPath(ID1), "10.99.0.13/24") });
    await writeFile(join(w.conf, "10-late.conf"), JSON.stringify({ cniVersion: "0.4.0", name: "late", type: "late" }));
    assert.equal((await net.ready()).ok, true);
    assert.deepEqual((await net.setUp(pod(ID1))).ips, ["10.99.0.13"]);
    const add = (await invocations(w.log))[0]!;
    assert.equal(add.stdin.name, "late");
    assert.equal(add.stdin.cniVersion, "0.4.0");
  });

  test("a plugin missing from BinDir: FailedPrecondition naming it, and nothing made (DEL could not run either)", async () => {
    await writeFakePlugin(w.bin, "present", w.log, { result: fakeResult(nsPath(ID1), "10.99.0.16/24") });
    await conflist(w, [{ type: "present" }, { type: "absent" }]);
    const net = await w.open();
    await assert.rejects(net.setUp(pod(ID1)), (e) => codeOf(e) === Code.FailedPrecondition && /"absent"/.test((e as Error).message));
    assert.equal(w.namespaces.size, 0);
    assert.equal(net.status(ID1), undefined);
    assert.deepEqual(await invocations(w.log), []);
    assert.deepEqual((await readdir(join(w.state, "cni"))).filter((f) => f.endsWith(".json")), []);
  });

  test("reconcile tears down pods that are gone and stray namespaces, keeps live ones, reports half-made ones", async () => {
    await writeFakePlugin(w.bin, "solo", w.log, { result: fakeResult("/x", "10.99.0.14/24") });
    await conflist(w, [{ type: "solo" }]);
    const first = await w.open();
    await first.setUp(pod(ID1));
    await first.setUp(pod(ID2));
    // A crash during another setUp: a record in "adding", as written before ADD.
    const adding = JSON.parse(await readFile(join(w.state, "cni", `${ID2}.json`), "utf8")) as Record<string, unknown>;
    await writeFile(join(w.state, "cni", `${ID3}.json`), JSON.stringify({ ...adding, podId: ID3, netnsName: `portoshim-${ID3}`, state: "adding", result: undefined, ips: undefined }));
    w.namespaces.add(nsPath(ID3));
    // A namespace with no record (removed by hand), one of someone else's.
    const stray = "4".repeat(64);
    w.namespaces.add(nsPath(stray));
    w.namespaces.add(`${NETNS_DIR}/cni-1234`);

    const restarted = await w.open();
    const report = await restarted.reconcile([ID1, ID3]);
    assert.deepEqual(report, { removed: [ID2], strayNetns: [`portoshim-${stray}`], incomplete: [ID3], failed: [] });
    assert.deepEqual([...w.namespaces].sort(), [`${NETNS_DIR}/cni-1234`, nsPath(ID1), nsPath(ID3)].sort());
    assert.equal(restarted.status(ID2), undefined);
    assert.deepEqual(restarted.status(ID1)?.ips, ["10.99.0.14"]);
    const dels = (await invocations(w.log)).filter((c) => c.command === "DEL");
    assert.deepEqual(dels.map((c) => c.containerId), [ID2]);
  });

  test("calls for one pod are serialised: a teardown waits for the setUp in flight", async () => {
    await writeFakePlugin(w.bin, "solo", w.log, { result: fakeResult(nsPath(ID1), "10.99.0.15/24") });
    await conflist(w, [{ type: "solo" }]);
    const net = await w.open();
    const [up] = await Promise.all([net.setUp(pod(ID1)), net.tearDown(ID1)]);
    assert.deepEqual(up.ips, ["10.99.0.15"]);
    assert.deepEqual((await invocations(w.log)).map((c) => c.command), ["ADD", "DEL"]);
    assert.equal(net.status(ID1)?.state, "down");
  });

  test("ipRanges from the pod CIDRs reach plugins that declare them", async () => {
    await writeFakePlugin(w.bin, "ranged", w.log, { result: fakeResult(nsPath(ID1), "10.244.0.2/24") });
    await conflist(w, [{ type: "ranged", capabilities: { ipRanges: true, "io.kubernetes.cri.pod-annotations": true } }]);
    const net = await w.open();
    net.setPodCidrs(["10.244.0.0/24", " "]);
    await net.setUp(pod(ID1, { annotations: { a: "b" } }));
    assert.deepEqual((await invocations(w.log))[0]!.stdin.runtimeConfig, {
      ipRanges: [[{ subnet: "10.244.0.0/24" }]],
      "io.kubernetes.cri.pod-annotations": { a: "b" },
    });
  });
});
