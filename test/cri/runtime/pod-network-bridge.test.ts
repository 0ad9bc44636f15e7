/**
 * The pod lifecycle with the real PodNetwork and Debian's CNI plugins (root
 * only): RunPodSandbox through the CRI server makes a real namespace with a
 * bridge address and a host port, StopPodSandbox gives them back,
 * RemovePodSandbox removes the namespace, a failed creation leaves nothing.
 * The Porto double does not join namespaces, so the test serves from the
 * namespace itself (nsenter), where the pod's processes would run; the real
 * portod is covered by the manual verification in docs/networking.md.
 * Private subnet and bridge, no masquerading, no route off the machine.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { PodSandboxState } from "../../../gen/runtime/v1/api_pb.js";
import { EError } from "../../../gen/rpc_pb.js";
import { podPortoName } from "../../../src/mapping/porto-names.js";
import { PodNetwork as CniPodNetwork } from "../../../src/network/pod-network.js";
import { isNetnsMounted, listNetns, removeNetns } from "../../../src/network/netns.js";
import { PortoError } from "../../../src/porto/index.js";
import { cniPodNetwork } from "../../../src/runtime/network.js";
import type { PodNetwork } from "../../../src/runtime/network.js";
import { CreateHook, lateNetwork, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";
import { fetchWord, realPluginDir, realPluginsSkip } from "../../network/real-plugins.js";

const pluginDir = realPluginDir;
const skip = realPluginsSkip;

// Unique per run, apart from test/network/bridge.test.ts's 10.99.x and containerd's 10.88.0.0/16.
const X = 20 + (process.pid % 200);
const BRIDGE = `pslc${process.pid % 100000}`;
const V4 = `10.97.${X}`;
const HOST_PORT = 20000 + ((process.pid + 7) % 20000);
// Below /var/run/netns so that portod could join it by name, in a directory of
// its own so that reconciliation never sees another shim's namespaces.
const NETNS_DIR = `/run/netns/pstest-${process.pid}`;

const createHook = new CreateHook();

function serveIn(netnsPath: string, word: string): Promise<ChildProcess> {
  const code = `require("net").createServer((c) => c.end(${JSON.stringify(word)} + "\\n")).listen(80, "0.0.0.0", () => console.log("ready"));`;
  const child = spawn("nsenter", [`--net=${netnsPath}`, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve(child));
    child.on("exit", (c) => reject(new Error(`server exited with ${c}`)));
  });
}


describe("pods on a real bridge through the CRI", { skip }, () => {
  let shim: Shim;
  let ipamDir: string;
  const servers: ChildProcess[] = [];

  /** Addresses host-local holds for the pod. */
  const allocatedTo = async (podId: string) => {
    const dir = join(ipamDir, `pslc${process.pid}`);
    const held: string[] = [];
    for (const n of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(`${V4}.`))) {
      if ((await readFile(join(dir, n), "utf8")).split(/\s/)[0] === podId) held.push(n);
    }
    return held;
  };

  before(async () => {
    // The shim's directories decide where the network's go: build the network once they exist.
    const late = lateNetwork();
    shim = await startShim({ wrapPorto: createHook.wrapPorto, network: late.network });
    const conf = join(shim.dir, "net.d");
    ipamDir = join(shim.dir, "ipam");
    await mkdir(conf);
    await writeFile(
      join(conf, "10-test.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: `pslc${process.pid}`,
        plugins: [
          {
            type: "bridge",
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false,
            ipam: { type: "host-local", dataDir: ipamDir, ranges: [[{ subnet: `${V4}.0/24` }]] },
          },
          { type: "portmap", capabilities: { portMappings: true }, snat: true },
        ],
      }),
    );
    const cni = await CniPodNetwork.open({
      confDir: conf,
      binDir: pluginDir!,
      netnsDir: NETNS_DIR,
      pluginTimeoutMs: 60_000,
      stateDir: shim.stateDir,
      logger: pino({ level: "silent" }),
    });
    late.set(cniPodNetwork(cni, { netnsDir: NETNS_DIR }));
  });

  after(async () => {
    for (const s of servers) s.kill("SIGKILL");
    // Whatever a failed test left: pods through the CRI (DEL, namespaces), then by hand.
    for (const p of (await shim.rt.listPodSandbox({}).catch(() => ({ items: [] }))).items) {
      await shim.rt.removePodSandbox({ podSandboxId: p.id }).catch(() => {});
    }
    await shim.close();
    for (const n of await listNetns(NETNS_DIR).catch(() => [])) await removeNetns(NETNS_DIR, n).catch(() => {});
    await rmdir(NETNS_DIR).catch(() => {});
    try {
      execFileSync("ip", ["link", "del", BRIDGE], { stdio: "ignore" });
    } catch {
      // never created, or already gone
    }
    await rm(ipamDir, { recursive: true, force: true });
  });

  test("run: an address on the bridge and a host port reach the pod's namespace; stop gives them back; remove takes the namespace", async () => {
    const config = podConfig({ portMappings: [{ containerPort: 80, hostPort: HOST_PORT }] });
    const { podSandboxId: id } = await shim.rt.runPodSandbox({ config });
    const netnsPath = join(NETNS_DIR, `portoshim-${id}`);
    assert.equal(await isNetnsMounted(netnsPath), true);
    assert.equal(shim.double.state.containers.get(podPortoName(id))!.text.get("net"), `netns pstest-${process.pid}/portoshim-${id}`);

    const st = (await shim.rt.podSandboxStatus({ podSandboxId: id })).status!;
    const ip = st.network!.ip;
    assert.ok(ip.startsWith(`${V4}.`), ip);
    assert.deepEqual(await allocatedTo(id), [ip]);

    servers.push(await serveIn(netnsPath, "from the pod"));
    assert.equal(await fetchWord(ip, 80), "from the pod");
    assert.equal(await fetchWord(`${V4}.1`, HOST_PORT), "from the pod");

    await shim.rt.stopPodSandbox({ podSandboxId: id });
    const stopped = (await shim.rt.podSandboxStatus({ podSandboxId: id })).status!;
    assert.equal(stopped.state, PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(stopped.network?.ip, "");
    assert.deepEqual(await allocatedTo(id), []);
    await assert.rejects(fetchWord(`${V4}.1`, HOST_PORT), "the host port is gone after DEL");
    assert.equal(await isNetnsMounted(netnsPath), true, "the namespace stays until removal");

    await shim.rt.removePodSandbox({ podSandboxId: id });
    assert.equal(existsSync(netnsPath), false);
    assert.equal(existsSync(join(shim.stateDir, "cni", `${id}.json`)), false);
  });

  test("the Porto container failing after ADD: the address is released and the namespace removed before the error", async () => {
    createHook.next = async () => {
      throw new PortoError(EError.ResourceNotAvailable, "injected: out of containers");
    };
    await assert.rejects(shim.rt.runPodSandbox({ config: podConfig() }), (e: unknown) => ConnectError.from(e).code === Code.ResourceExhausted);
    assert.deepEqual(await listNetns(NETNS_DIR), []);
    const dir = join(ipamDir, `pslc${process.pid}`);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith(`${V4}.`)), []);
    assert.deepEqual((await readdir(join(shim.stateDir, "cni"))).filter((f) => f.endsWith(".json")), []);
  });
});
