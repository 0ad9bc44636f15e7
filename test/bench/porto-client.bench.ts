/**
 * Benchmark: round trips per second through the Porto client (src/porto:
 * PortoClient over its pool) against a minimal raw-socket loop sending the
 * same requests, one at a time: `Version`, and a batch `get` of `--containers`
 * containers x 5 properties. The raw loop encodes each request once, writes
 * varint length + bytes on a net.Socket and reads and decodes the varint-framed
 * reply; the client loop calls client.version() and client.get(names, props),
 * which also build the request, check the reply and shape the result. What the
 * client adds is its overhead, in % of the raw loop's time per request. A
 * third loop, raw but building and encoding the request every time, splits
 * that overhead into what any client pays (encoding) and the client's own.
 *
 *   node --import tsx test/bench/porto-client.bench.ts [--porto /run/portod.socket] [--containers 200]
 *        [--seconds 2] [--rounds 3] [--dist DIR]
 *
 * Without --porto (or the PORTO_SOCKET environment variable) the Porto test
 * double runs in a child process, so that its work does not share this
 * process' event loop with the loops measured. The containers are made first
 * (created with `command=sleep 1000`, never started), named
 * `bench-client-<pid>-N`, and destroyed at the end, on portod too. Each loop
 * runs `--rounds` times for `--seconds`, raw and client alternating; the best
 * round of each counts, with this process' CPU time per request beside it.
 *
 * With --dist DIR the client comes from DIR/src/porto/index.js, the output of
 * `npx tsc -p tsconfig.build.json --outDir DIR` (DIR inside the checkout, for
 * node_modules), as the shim runs in production: through tsx every closure
 * the client makes per call also pays for esbuild's keepNames helper.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { EError, TContainerRequestSchema, TContainerResponseSchema } from "../../gen/rpc_pb.js";
import type { TContainerRequest } from "../../gen/rpc_pb.js";
import type { PortoClient as PortoClientType } from "../../src/porto/index.js";
import { frame, FrameReader } from "../../src/porto/framing.js";

const { values } = parseArgs({
  options: {
    porto: { type: "string", default: process.env.PORTO_SOCKET },
    containers: { type: "string", default: "200" },
    seconds: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    dist: { type: "string" },
  },
});
const N = Number(values.containers);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const PROPERTIES = ["state", "command", "cwd", "owner_user", "creation_time"];

const root = resolve(import.meta.dirname, "../..");
const { PortoClient } = (await import(
  values.dist ? join(resolve(values.dist), "src/porto/index.js") : "../../src/porto/index.js"
)) as { PortoClient: typeof PortoClientType };
const dir = await mkdtemp(join(tmpdir(), "porto-client-bench-"));
let double: ReturnType<typeof spawn> | undefined;
let socketPath = values.porto;
if (socketPath === undefined) {
  socketPath = join(dir, "portod.socket");
  double = spawn(process.execPath, ["--import", "tsx", join(root, "test/porto-double/main.ts"), "--socket", socketPath, "--work-dir", join(dir, "place")], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
}

// ---- the raw loop: one socket, one request at a time, varint-framed both ways
// (the framing is src/porto/framing.ts's, which any client needs; none of the client's machinery)

class RawConnection {
  private readonly reader = new FrameReader();
  private waiting: ((b: Uint8Array) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      for (const payload of this.reader.push(chunk)) {
        const w = this.waiting;
        this.waiting = undefined;
        w?.(payload);
      }
    });
  }

  static open(path: string): Promise<RawConnection> {
    return new Promise((res, rej) => {
      const s = connect(path);
      s.once("connect", () => res(new RawConnection(s)));
      s.once("error", rej);
    });
  }

  /** Sends framed bytes and resolves with the reply's payload. */
  roundTrip(framed: Buffer): Promise<Uint8Array> {
    return new Promise((res) => {
      this.waiting = res;
      this.socket.write(framed);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

function framed(req: TContainerRequest): Buffer {
  return frame(toBinary(TContainerRequestSchema, req));
}

// ---- measuring

/** Runs `fn` back to back for SECONDS: round trips per second, and this process' CPU microseconds per round trip. */
async function rate(fn: () => Promise<unknown>): Promise<{ rps: number; cpuUs: number }> {
  for (let i = 0; i < 200; i++) await fn(); // warm up (JIT, connections)
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < end) {
    await fn();
    n++;
  }
  const cpu = process.cpuUsage(cpu0);
  return { rps: n / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / n };
}

const client: PortoClientType = new PortoClient({ socketPath, timeoutMs: 30_000 });
const names = Array.from({ length: N }, (_, i) => `bench-client-${process.pid}-${i}`);
const made: string[] = [];

async function waitForPorto(): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      await client.version();
      return;
    } catch (err) {
      if (Date.now() > end || double?.exitCode != null) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

try {
  await waitForPorto();
  const version = await client.version();
  for (const name of names) {
    await client.create(name);
    made.push(name);
    await client.setProperty(name, "command", "sleep 1000");
  }

  const raw = await RawConnection.open(socketPath);
  const versionInit = { version: {} };
  const getInit = { get: { name: names, variable: PROPERTIES } };
  const rawCall = (bytes: () => Buffer) => async () => {
    const rsp = fromBinary(TContainerResponseSchema, await raw.roundTrip(bytes()));
    if (rsp.error !== EError.Success) throw new Error(`porto error ${rsp.error}: ${rsp.errorMsg}`);
    return rsp;
  };
  const once = (init: MessageInitShape<typeof TContainerRequestSchema>) => {
    const bytes = framed(create(TContainerRequestSchema, init));
    return rawCall(() => bytes);
  };
  const eachTime = (init: MessageInitShape<typeof TContainerRequestSchema>) => rawCall(() => framed(create(TContainerRequestSchema, init)));
  // Both loops must see the same answer.
  const check = await client.get(names, PROPERTIES);
  const rawCheck = await once(getInit)();
  if (check.size !== N || rawCheck.get?.list.length !== N || [...check.values()].some((v) => v.size !== PROPERTIES.length)) {
    throw new Error("the get does not return every container and property");
  }

  // "raw, encoding each" builds and encodes the request every time, as any client must: the
  // difference between it and the client is what the client's own machinery costs.
  const requests: Array<{ name: string; loops: Array<[string, () => Promise<unknown>]> }> = [
    {
      name: "Version",
      loops: [
        ["raw", once(versionInit)],
        ["raw, encoding each", eachTime(versionInit)],
        ["client", () => client.version()],
      ],
    },
    {
      name: `get ${N} containers x ${PROPERTIES.length} properties`,
      loops: [
        ["raw", once(getInit)],
        ["raw, encoding each", eachTime(getInit)],
        ["client", () => client.get(names, PROPERTIES)],
      ],
    },
  ];
  process.stdout.write(
    `${double ? "Porto test double (child process)" : `portod at ${socketPath}`}, version ${version.tag}; ` +
      `client ${values.dist ? `built (${values.dist})` : "through tsx"}; ` +
      `best of ${ROUNDS} rounds of ${SECONDS} s, one request at a time\n`,
  );
  for (const { name, loops } of requests) {
    const best = new Map<string, { rps: number; cpuUs: number }>(loops.map(([l]) => [l, { rps: 0, cpuUs: 0 }]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [l, fn] of loops) {
        const m = await rate(fn);
        if (m.rps > best.get(l)!.rps) best.set(l, m);
      }
    }
    const base = best.get("raw")!;
    process.stdout.write(
      `\n${name.padEnd(22)} ${"req/s".padStart(9)} ${"us/req".padStart(9)} ${"cpu us/req".padStart(11)} ${"vs raw".padStart(8)}\n`,
    );
    for (const [l] of loops) {
      const m = best.get(l)!;
      const vs = l === "raw" ? "" : `${m.rps <= base.rps ? "+" : ""}${((base.rps / m.rps - 1) * 100).toFixed(1)}%`;
      process.stdout.write(
        `  ${l.padEnd(20)} ${m.rps.toFixed(0).padStart(9)} ${(1e6 / m.rps).toFixed(1).padStart(9)} ${m.cpuUs.toFixed(1).padStart(11)} ${vs.padStart(8)}\n`,
      );
    }
    const client = best.get("client")!;
    process.stdout.write(`  client overhead: ${((base.rps / client.rps - 1) * 100).toFixed(1)}% (target < 10%)\n`);
  }
  raw.close();
} finally {
  for (const name of made) await client.destroy(name).catch((err: unknown) => process.stderr.write(`destroy ${name}: ${(err as Error).message}\n`));
  client.close();
  if (double) {
    double.kill("SIGTERM");
    await new Promise((r) => double!.once("exit", r));
  }
  await rm(dir, { recursive: true, force: true });
}
