/**
 * Benchmark: kubelet's relist calls with many pods. ListPodSandbox,
 * ListContainers and ListContainerStats (and, for comparison, one
 * PodSandboxStatus and one ContainerStatus) are timed at a CRI client, with
 * `--pods` pods of `--containers` running containers each, made through the
 * shim itself: p50, p99 and mean over `--runs` calls of each, one call at a
 * time, and (on the double) how many Porto requests a call costs.
 *
 *   node --import tsx test/bench/list.bench.ts [--pods 500] [--containers 2] [--runs 300]
 *        [--porto /run/portod.socket] [--dist DIR] [--socket /tmp/ps-bench.sock]
 *
 * The shim runs as a child process of its own (`src/cli.ts` through tsx, or
 * `DIR/src/cli.js` with --dist, the output of `npx tsc -p tsconfig.build.json
 * --outDir DIR`) with a private state directory and socket. Without --porto
 * the Porto test double runs in this process (its request counter gives the
 * Porto cost per call); with it, a real portod runs the containers, which the
 * benchmark removes again at the end.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ImageService, NamespaceMode, RuntimeService } from "../../gen/runtime/v1/api_pb.js";
import { startPortoDouble } from "../porto-double/index.js";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "500" },
    containers: { type: "string", default: "2" },
    runs: { type: "string", default: "300" },
    porto: { type: "string" },
    dist: { type: "string" },
    socket: { type: "string" },
    image: { type: "string", default: "registry.k8s.io/e2e-test-images/busybox:1.29-2" },
    parallel: { type: "string", default: "8" },
  },
});
const PODS = Number(values.pods);
const PER_POD = Number(values.containers);
const RUNS = Number(values.runs);
const PARALLEL = Number(values.parallel);
const IMAGE = values.image!;

const dir = await mkdtemp(join(tmpdir(), "list-bench-"));
const double = values.porto
  ? undefined
  : await startPortoDouble({
      workDir: join(dir, "place"),
      logRotateMs: 0,
      images: [{ name: IMAGE, cmd: ["sh"], env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] }],
    });
const portoSocket = values.porto ?? double!.socketPath;
const criSocket = values.socket ?? join(dir, "cri.sock");

// ---- the shim, as a process of its own

const configPath = join(dir, "portoshim.yaml");
await mkdir(join(dir, "logs"), { recursive: true });
await writeFile(
  configPath,
  [
    "Portoshim:",
    `  Socket: ${criSocket}`,
    `  LogsDir: ${join(dir, "logs")}`,
    `  VolumesDir: ${join(dir, "volumes")}`,
    `  StateDir: ${join(dir, "state")}`,
    "Porto:",
    `  Socket: ${portoSocket}`,
    "CNI:",
    `  ConfDir: ${join(dir, "cni")}`,
    "StreamingServer:",
    "  Address: 127.0.0.1",
    `  Port: ${20000 + (process.pid % 20000)}`,
    "",
  ].join("\n"),
);
const root = resolve(import.meta.dirname, "../..");
const shimArgs = values.dist
  ? [join(resolve(values.dist), "src/cli.js"), "--config", configPath]
  : ["--import", "tsx", join(root, "src/cli.ts"), "--config", configPath];
const shim: ChildProcess = spawn(process.execPath, shimArgs, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
const shimExited = new Promise<void>((r) => shim.once("exit", () => r()));

const transport = createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => connect(criSocket) } });
const rt: Client<typeof RuntimeService> = createClient(RuntimeService, transport);
const img: Client<typeof ImageService> = createClient(ImageService, transport);

async function waitForShim(): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      await rt.version({});
      return;
    } catch (err) {
      if (Date.now() > end || shim.exitCode !== null) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Runs `fn` over `items`, `PARALLEL` at a time. */
async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const pods: string[] = [];
const tag = process.pid.toString(36);

try {
  await waitForShim();
  await img.pullImage({ image: { image: IMAGE } });

  const t0 = performance.now();
  await pool(
    Array.from({ length: PODS }, (_, i) => i),
    async (i) => {
      // Host network: the figures are about listing, not about CNI.
      const config = {
        metadata: { name: `bench-${tag}-${i}`, namespace: "bench", uid: `bench-${tag}-${i}`, attempt: 0 },
        hostname: `bench-${i}`,
        labels: { app: "bench", n: String(i) },
        linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } },
      };
      const { podSandboxId } = await rt.runPodSandbox({ config });
      pods.push(podSandboxId);
      for (let c = 0; c < PER_POD; c++) {
        const { containerId } = await rt.createContainer({
          podSandboxId,
          sandboxConfig: config,
          config: { metadata: { name: `c${c}`, attempt: 0 }, image: { image: IMAGE }, command: ["sleep", "1000000"], labels: { c: String(c) } },
        });
        await rt.startContainer({ containerId });
      }
    },
  );
  const setupS = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${values.porto ? `portod at ${values.porto}` : "Porto test double"}; shim ${values.dist ? `built (${values.dist})` : "through tsx"}\n` +
      `made ${PODS} pods x ${PER_POD} containers in ${setupS.toFixed(1)} s\n\n`,
  );

  // Let the shim settle (its view catches up with the creations' events).
  await new Promise((r) => setTimeout(r, 1000));

  const someContainer = (await rt.listContainers({})).containers[0].id;
  const calls: Array<[string, () => Promise<unknown>]> = [
    ["ListPodSandbox", () => rt.listPodSandbox({})],
    ["ListContainers", () => rt.listContainers({})],
    ["ListContainerStats", () => rt.listContainerStats({})],
    ["PodSandboxStatus", () => rt.podSandboxStatus({ podSandboxId: pods[0] })],
    ["ContainerStatus", () => rt.containerStatus({ containerId: someContainer })],
  ];
  process.stdout.write(`${"call".padEnd(20)} ${"items".padStart(6)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"mean ms".padStart(8)} ${"porto req/call".padStart(15)}\n`);
  for (const [name, call] of calls) {
    for (let i = 0; i < 20; i++) await call(); // warm up
    const requestsBefore = double?.state.daemon.stats.requests;
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const rsp = (await call()) as { items?: unknown[]; containers?: unknown[]; stats?: unknown[] };
      times.push(performance.now() - t);
      items = (rsp.items ?? rsp.containers ?? rsp.stats ?? [undefined]).length;
    }
    const perCall = double ? ((double.state.daemon.stats.requests - requestsBefore!) / RUNS).toFixed(2) : "-";
    times.sort((a, b) => a - b);
    const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))];
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    process.stdout.write(
      `${name.padEnd(20)} ${String(items).padStart(6)} ${pct(50).toFixed(2).padStart(8)} ${pct(99).toFixed(2).padStart(8)} ${mean.toFixed(2).padStart(8)} ${perCall.padStart(15)}\n`,
    );
  }
} finally {
  // Remove what was made (a real portod keeps it otherwise), then stop the shim.
  const t = performance.now();
  await pool([...pods], async (id) => {
    await rt.removePodSandbox({ podSandboxId: id }).catch((err: unknown) => process.stderr.write(`remove ${id}: ${(err as Error).message}\n`));
  });
  if (pods.length > 0) process.stdout.write(`\nremoved ${pods.length} pods in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  shim.kill("SIGTERM");
  await shimExited;
  await double?.close();
  await rm(dir, { recursive: true, force: true });
}
