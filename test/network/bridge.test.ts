/**
 * Pod networking with the real CNI plugins (root only; Debian's
 * containernetworking-plugins): a bridge of our own with a private dual-stack
 * subnet and host-local IPAM in a temporary directory, portmap for hostPort.
 * Traffic stays on the machine: the bridge is the pods' gateway only for its
 * own subnet (no default route in the pod, no masquerading).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { PodNetwork } from "../../src/network/pod-network.js";
import type { PodNetworkInput } from "../../src/network/pod-network.js";
import { listNetns, removeNetns } from "../../src/network/netns.js";
import { writeFakePlugin } from "./fake-plugins.js";
import { fetchWord, realPluginDir, realPluginsSkip } from "./real-plugins.js";

const pluginDir = realPluginDir;
const skip = realPluginsSkip;

// Unique per run, so parallel runs and containerd's cni0 (10.88.0.0/16) never meet.
const X = 20 + (process.pid % 200);
const BRIDGE = `psbr${process.pid % 100000}`;
const V4 = `10.99.${X}`;
const V6 = `fd99:0:0:${X.toString(16)}`;
const HOST_PORT = 20000 + (process.pid % 20000);

let root: string;
let conf: string;
let state: string;
let netnsDir: string;
let ipamDir: string;
let fakeBin: string;
let seq = 0;
const servers: ChildProcess[] = [];
const networks: PodNetwork[] = [];

function conflist(extraPlugins: object[] = []): string {
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `pstest${process.pid}`,
    plugins: [
      {
        type: "bridge",
        bridge: BRIDGE,
        isGateway: true,
        isDefaultGateway: false,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          dataDir: ipamDir,
          ranges: [[{ subnet: `${V4}.0/24` }], [{ subnet: `${V6}::/64` }]],
        },
      },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
      ...extraPlugins,
    ],
  });
}

async function open(): Promise<PodNetwork> {
  const net = await PodNetwork.open({
    confDir: conf,
    binDir: `${pluginDir}:${fakeBin}`,
    netnsDir,
    pluginTimeoutMs: 60_000,
    stateDir: state,
    logger: pino({ level: "silent" }),
  });
  networks.push(net);
  return net;
}

function newPod(extra: Partial<PodNetworkInput> = {}): PodNetworkInput {
  const id = `${process.pid.toString(16).padStart(8, "0")}${(seq++).toString(16).padStart(56, "0")}`;
  return { id, name: `p${seq}`, namespace: "test", uid: `uid-${seq}`, annotations: {}, portMappings: [], ...extra };
}

/** Addresses host-local holds for the pod: one file per address, named by it, holding the container id. */
async function allocatedTo(podId: string): Promise<string[]> {
  const dir = join(ipamDir, `pstest${process.pid}`);
  const names = await readdir(dir).catch(() => [] as string[]);
  const held: string[] = [];
  for (const n of names.filter((n) => n.startsWith(`${V4}.`) || n.startsWith(`${V6}:`))) {
    if ((await readFile(join(dir, n), "utf8")).split(/\s/)[0] === podId) held.push(n);
  }
  return held.sort();
}

/** A new bridge's IPv6 address is unusable while duplicate address detection runs (a second or two). */
async function bridgeSettled(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (execFileSync("ip", ["-6", "addr", "show", "dev", BRIDGE, "tentative"], { encoding: "utf8" }).trim() === "") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${BRIDGE} still has tentative IPv6 addresses`);
}

/** A TCP server on port 80 inside the namespace, answering with `word`. */
async function serveIn(netnsPath: string, word: string): Promise<void> {
  const code = `require("net").createServer((c) => c.end(${JSON.stringify(word)} + "\\n")).listen(80, "::", () => console.log("ready"));`;
  const child = spawn("nsenter", [`--net=${netnsPath}`, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  servers.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
    child.on("exit", (c) => reject(new Error(`server exited with ${c}`)));
  });
}


function links(netnsPath: string): string[] {
  const out = JSON.parse(execFileSync("nsenter", [`--net=${netnsPath}`, "ip", "-j", "addr"], { encoding: "utf8" })) as Array<{
    ifname: string;
    addr_info: Array<{ local: string }>;
  }>;
  return out.flatMap((l) => l.addr_info.map((a) => `${l.ifname} ${a.local}`));
}

describe("pod networks on a real bridge", { skip }, () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "cni-bridge-"));
    conf = join(root, "net.d");
    state = join(root, "state");
    netnsDir = join(root, "netns");
    ipamDir = join(root, "ipam");
    fakeBin = join(root, "fakebin");
    await mkdir(conf);
    await mkdir(fakeBin);
    await writeFile(join(conf, "10-test.conflist"), conflist());
  });

  after(async () => {
    for (const s of servers) s.kill("SIGKILL");
    // Whatever a failed test left: DEL through our code, then by hand.
    for (const net of networks.slice(-1)) await net.reconcile([]).catch(() => {});
    for (const n of await listNetns(netnsDir).catch(() => [])) await removeNetns(netnsDir, n).catch(() => {});
    try {
      execFileSync("ip", ["link", "del", BRIDGE], { stdio: "ignore" });
    } catch {
      // never created, or already gone
    }
    await rm(root, { recursive: true, force: true });
  });

  test("ADD gives eth0 an IPv4 and an IPv6 address from the ranges, reachable from the node; CHECK passes; DEL releases them", async () => {
    const net = await open();
    const pod = newPod();
    const up = await net.setUp(pod);
    assert.equal(up.ips.length, 2, JSON.stringify(up.ips));
    assert.ok(up.ips[0]!.startsWith(`${V4}.`), up.ips[0]);
    assert.ok(up.ips[1]!.startsWith(`${V6}:`), up.ips[1]);
    assert.equal(up.portoNet, undefined, "a temporary NetnsDir is not below /var/run/netns");
    const inside = links(up.netnsPath);
    assert.ok(inside.includes(`eth0 ${up.ips[0]}`), inside.join(", "));
    assert.ok(inside.includes(`eth0 ${up.ips[1]}`), inside.join(", "));
    assert.ok(inside.includes("lo 127.0.0.1"), inside.join(", "));

    assert.deepEqual(await allocatedTo(pod.id), [...up.ips].sort());
    await serveIn(up.netnsPath, "dual");
    await bridgeSettled();
    assert.equal(await fetchWord(up.ips[0]!, 80), "dual");
    assert.equal(await fetchWord(up.ips[1]!, 80), "dual");
    await net.check(pod.id);

    await net.tearDown(pod.id);
    assert.deepEqual(await allocatedTo(pod.id), []);
    assert.ok(!links(up.netnsPath).some((l) => l.startsWith("eth0 ")), "eth0 is gone after DEL");
    await net.tearDown(pod.id);
    await net.remove(pod.id);
    assert.equal(existsSync(up.netnsPath), false);
  });

  test("hostPort: the node reaches a server in the pod through portmap, on the bridge address and on 127.0.0.1", async () => {
    const net = await open();
    const pod = newPod({ portMappings: [{ protocol: 0, containerPort: 80, hostPort: HOST_PORT, hostIp: "" }] });
    const up = await net.setUp(pod);
    await serveIn(up.netnsPath, "hostport");
    assert.equal(await fetchWord(`${V4}.1`, HOST_PORT), "hostport");
    assert.equal(await fetchWord("127.0.0.1", HOST_PORT), "hostport");
    await net.remove(pod.id);
    await assert.rejects(fetchWord(`${V4}.1`, HOST_PORT), "after DEL the port mapping is gone");
  });

  test("a plugin failing after the bridge's ADD: the IP is released and the namespace removed before the error", async () => {
    await writeFakePlugin(fakeBin, "fails-after", join(root, "fails.log"), {
      failOn: ["ADD"],
      errorStdout: JSON.stringify({ cniVersion: "1.0.0", code: 7, msg: "refusing on purpose" }),
    });
    await writeFile(join(conf, "10-test.conflist"), conflist([{ type: "fails-after" }]));
    try {
      const net = await open();
      const pod = newPod();
      await assert.rejects(net.setUp(pod), (e) => e instanceof ConnectError && e.code === Code.Unavailable && /refusing on purpose/.test(e.message));
      assert.deepEqual(await allocatedTo(pod.id), []);
      const log = await readFile(join(root, "fails.log"), "utf8");
      assert.match(log, /^fails-after\tADD\t.*\nfails-after\tDEL\t/, "DEL ran for the failing plugin too");
      assert.deepEqual(await listNetns(netnsDir), []);
      assert.equal(net.status(pod.id), undefined);
    } finally {
      await writeFile(join(conf, "10-test.conflist"), conflist());
    }
  });

  test("after a restart, reconcile tears down and removes the networks of pods that are gone, and keeps the others", async () => {
    const before = await open();
    const gone = newPod();
    const kept = newPod();
    const upGone = await before.setUp(gone);
    const upKept = await before.setUp(kept);
    assert.equal((await allocatedTo(gone.id)).length, 2);

    const after = await open();
    const report = await after.reconcile([kept.id]);
    assert.deepEqual(report.removed, [gone.id]);
    assert.deepEqual(report.failed, []);
    assert.equal(existsSync(upGone.netnsPath), false);
    assert.deepEqual(await allocatedTo(gone.id), []);
    assert.deepEqual(await allocatedTo(kept.id), [...upKept.ips].sort());
    assert.deepEqual(after.status(kept.id)?.ips, upKept.ips);
    await after.remove(kept.id);
    assert.deepEqual(await allocatedTo(kept.id), []);
  });

  test("a config installed after start-up is used without a restart", async () => {
    await rm(join(conf, "10-test.conflist"));
    try {
      const net = await open();
      assert.equal((await net.ready()).ok, false);
      await assert.rejects(net.setUp(newPod()), (e) => e instanceof ConnectError && e.code === Code.FailedPrecondition);
      await writeFile(join(conf, "10-test.conflist"), conflist());
      assert.equal((await net.ready()).ok, true);
      const pod = newPod();
      const up = await net.setUp(pod);
      assert.ok(up.ips[0]!.startsWith(`${V4}.`));
      await net.remove(pod.id);
    } finally {
      await writeFile(join(conf, "10-test.conflist"), conflist());
    }
  });
});
