/**
 * Benchmark: exec stdout and port-forward throughput through the streaming
 * server, measured at the client, end to end (CRI URL, upgrade, Porto child
 * start, stream to its end).
 *
 *   node --import tsx test/bench/streaming.bench.ts [--porto /run/portod.socket] [--mb 200] [--runs 3]
 *
 * exec: `head -c N /dev/zero` in a container, read over SPDY v4 and over
 * WebSocket v5. port-forward: a server in the pod's network namespace sends N
 * bytes to one forwarded connection over SPDY. Without --porto the Porto test
 * double runs the processes (the pod shares the host's namespace); with it a
 * real portod does, the pod in its own network namespace (net=none), so
 * port-forward goes through the nsenter bridge.
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { ExecRequestSchema, PortForwardRequestSchema } from "../../gen/runtime/v1/api_pb.js";
import { PortoClient } from "../../src/porto/client.js";
import { newId } from "../../src/mapping/ids.js";
import { containerPortoName, podPortoName } from "../../src/mapping/porto-names.js";
import { portoLocator } from "../../src/streaming/locator.js";
import { PortoExecBackend } from "../../src/streaming/porto-exec.js";
import { createStreamingServer } from "../../src/streaming/server.js";
import { startPortoDouble } from "../porto-double/index.js";
import { spdyConnect } from "../streaming/spdy-client.js";
import { wsConnect } from "../streaming/ws-client.js";

const { values } = parseArgs({
  options: {
    porto: { type: "string" },
    mb: { type: "string", default: "200" },
    runs: { type: "string", default: "3" },
  },
});
const bytes = Number(values.mb) * 1_000_000;
const runs = Number(values.runs);
const PF_PORT = 18_765;

const double = values.porto ? undefined : await startPortoDouble();
const porto = new PortoClient({ socketPath: values.porto ?? double!.socketPath });
const podId = newId();
const ctrId = newId();
// The pod runs the port-forward source: a Node one-liner serving `bytes` zeros to each connection.
const source = `${process.execPath} -e 'require("net").createServer(c=>{c.on("error",()=>{});c.end(Buffer.alloc(${bytes}))}).listen(${PF_PORT},"127.0.0.1")'`;
await porto.createFromSpec({ name: podPortoName(podId), command: source, net: values.porto ? { cfg: [{ opt: "none" }] } : undefined }, { start: true });
await porto.createFromSpec({ name: containerPortoName(podId, ctrId), command: "sleep 100000" }, { start: true });
const backend = new PortoExecBackend({ porto, locator: portoLocator(porto) });
const server = createStreamingServer({ address: "127.0.0.1", port: 0, backend });
await server.listen();
await new Promise((r) => setTimeout(r, 500)); // let the source listen

const mbps = (n: number, ms: number) => Math.round((n / 1e6 / (ms / 1000)) * 10) / 10;

async function execSpdy(): Promise<number> {
  const url = server.execUrl(create(ExecRequestSchema, { containerId: ctrId, cmd: ["head", "-c", String(bytes), "/dev/zero"], stdout: true }));
  const t0 = performance.now();
  const { client } = await spdyConnect(url, ["v4.channel.k8s.io"]);
  const error = await client.createStream({ streamtype: "error" });
  const stdout = await client.createStream({ streamtype: "stdout" });
  error.resume();
  let n = 0;
  for await (const c of stdout) n += (c as Buffer).length;
  const ms = performance.now() - t0;
  client.close();
  if (n !== bytes) throw new Error(`exec over SPDY got ${n} bytes`);
  return mbps(n, ms);
}

async function execWs(): Promise<number> {
  const url = server.execUrl(create(ExecRequestSchema, { containerId: ctrId, cmd: ["head", "-c", String(bytes), "/dev/zero"], stdout: true }));
  const t0 = performance.now();
  const s = await wsConnect(url, ["v5.channel.k8s.io"]);
  await s.closed;
  const ms = performance.now() - t0;
  const n = s.data(1).length;
  if (n !== bytes) throw new Error(`exec over WebSocket got ${n} bytes`);
  return mbps(n, ms);
}

async function portForward(): Promise<number> {
  const url = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: podId }));
  const t0 = performance.now();
  const { client } = await spdyConnect(url, ["portforward.k8s.io"]);
  const headers = { port: String(PF_PORT), requestid: "0" };
  const error = await client.createStream({ ...headers, streamtype: "error" });
  const data = await client.createStream({ ...headers, streamtype: "data" });
  error.resume();
  data.end();
  let n = 0;
  for await (const c of data) n += (c as Buffer).length;
  const ms = performance.now() - t0;
  client.close();
  if (n !== bytes) throw new Error(`port-forward got ${n} bytes`);
  return mbps(n, ms);
}

const figures: Record<string, unknown> = { porto: values.porto ?? "double", mb: Number(values.mb), runs };
try {
  for (const [name, fn] of [
    ["exec stdout, SPDY v4 (MB/s)", execSpdy],
    ["exec stdout, WebSocket v5 (MB/s)", execWs],
    ["port-forward, SPDY (MB/s)", portForward],
  ] as const) {
    const results: number[] = [];
    for (let i = 0; i < runs; i++) results.push(await fn());
    figures[name] = { best: Math.max(...results), median: results.sort((a, b) => a - b)[Math.floor(results.length / 2)], all: results };
  }
  console.log(JSON.stringify(figures, null, 2));
} finally {
  // Also after a failed run: on a real portod the pod would outlive the benchmark.
  await server.close();
  backend.close();
  await porto.destroy(podPortoName(podId)).catch(() => undefined);
  porto.close();
  await double?.close();
}
