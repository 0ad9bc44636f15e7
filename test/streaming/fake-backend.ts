/**
 * An ExecBackend for protocol tests: commands are tiny behaviours, so the
 * tests look at the bytes on the wire, not at processes.
 *
 *   echo ARGS...   writes ARGS joined by spaces and "\n" to stdout
 *   cat            copies stdin to stdout
 *   count          reads stdin to its end, then prints the byte count
 *   big N          writes N bytes (a repeating pattern) to stdout
 *   err TEXT       writes TEXT to stderr
 *   exit N         exits with N
 *   resizes N      prints the first N terminal sizes as "WxH\n", then exits
 *   hang           runs until the client goes away
 *   fail           cannot be started (rejects)
 */
import { createServer } from "node:net";
import type { Server } from "node:net";
import type { Duplex, Writable } from "node:stream";
import { ExecError } from "../../src/streaming/exec-backend.js";
import type { ExecBackend, StdioStreams } from "../../src/streaming/exec-backend.js";
import { bridge } from "../../src/streaming/bridge.js";
import { connect } from "node:net";

export function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 10)) & 0xff;
  return b;
}

function writeAll(w: Writable | undefined, data: Buffer | string): Promise<void> {
  if (!w) return Promise.resolve();
  return new Promise((resolve) => {
    if (w.write(data)) resolve();
    else w.once("drain", () => resolve());
  });
}

async function endOf(w: Writable | undefined): Promise<void> {
  if (!w || w.writableEnded) return;
  await new Promise<void>((resolve) => w.end(() => resolve()));
}

export class FakeBackend implements ExecBackend {
  readonly calls: { kind: string; id: string; argv?: string[]; tty?: boolean }[] = [];
  aborted = 0;

  async exec(containerId: string, argv: string[], io: StdioStreams): Promise<number> {
    this.calls.push({ kind: "exec", id: containerId, argv, tty: io.tty });
    io.signal.addEventListener("abort", () => this.aborted++);
    const [cmd, ...args] = argv;
    let code = 0;
    switch (cmd) {
      case "echo":
        await writeAll(io.stdout, args.join(" ") + "\n");
        break;
      case "cat":
        if (io.stdin && io.stdout) {
          for await (const chunk of io.stdin) await writeAll(io.stdout, chunk as Buffer);
        }
        break;
      case "count": {
        let n = 0;
        if (io.stdin) for await (const chunk of io.stdin) n += (chunk as Buffer).length;
        await writeAll(io.stdout, `${n}\n`);
        break;
      }
      case "big": {
        const total = Number(args[0]);
        const block = pattern(total);
        for (let o = 0; o < total && !io.signal.aborted; o += 65536) await writeAll(io.stdout, block.subarray(o, o + 65536));
        break;
      }
      case "err":
        await writeAll(io.stderr, args.join(" "));
        break;
      case "exit":
        code = Number(args[0]);
        break;
      case "resizes": {
        let left = Number(args[0]);
        if (io.resize && left > 0) {
          for await (const s of io.resize) {
            await writeAll(io.stdout, `${s.width}x${s.height}\n`);
            if (--left === 0) break;
          }
        }
        break;
      }
      case "hang":
        await new Promise<void>((resolve) => {
          if (io.signal.aborted) resolve();
          io.signal.addEventListener("abort", () => resolve());
        });
        code = 137;
        break;
      case "fail":
        throw new ExecError("cannot start: no such file", "internal");
      default:
        code = 127;
    }
    await Promise.all([endOf(io.stdout), endOf(io.stderr)]);
    return code;
  }

  async attach(containerId: string, io: StdioStreams): Promise<void> {
    this.calls.push({ kind: "attach", id: containerId, tty: io.tty });
    await writeAll(io.stdout, "attached\n");
    if (io.stdin && io.stdout) for await (const chunk of io.stdin) await writeAll(io.stdout, chunk as Buffer);
    await Promise.all([endOf(io.stdout), endOf(io.stderr)]);
  }

  /** Port 1 is closed; any other port connects to the echo server `targets` maps it to. */
  readonly targets = new Map<number, number>();

  async portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void> {
    this.calls.push({ kind: "portforward", id: podSandboxId });
    const target = this.targets.get(port);
    if (target === undefined) throw new Error(`connect ECONNREFUSED 127.0.0.1:${port}`);
    const tcp = await new Promise<Duplex>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port: target, allowHalfOpen: true });
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });
    await bridge(stream, tcp);
  }
}

/**
 * A TCP server that echoes what it gets, upper-cased by nothing: it answers
 * "<n>\n" with the number of bytes once the client half-closes, and sends
 * `greeting` first when given.
 */
export async function countingServer(greeting = ""): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (c) => {
    if (greeting) c.write(greeting);
    let n = 0;
    c.on("data", (d: Buffer) => (n += d.length));
    c.on("end", () => c.end(`${n}\n`));
    c.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { server, port: (server.address() as { port: number }).port };
}

/** A TCP server that sends `size` bytes of pattern() and closes. */
export async function sourceServer(size: number): Promise<{ server: Server; port: number }> {
  const data = pattern(size);
  const server = createServer((c) => {
    c.on("error", () => undefined);
    c.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { server, port: (server.address() as { port: number }).port };
}
