/**
 * The Porto exec backend against the Porto double, which runs containers as
 * real child processes: stdio through FIFOs handed over as /dev/fd/N, the
 * terminal helper, exit codes, kills, port forwarding, ExecSync.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { PassThrough, Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { ExecSyncRequestSchema } from "../../gen/runtime/v1/api_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { startPortoDouble } from "../porto-double/index.js";
import type { PortoDouble } from "../porto-double/index.js";
import { PortoClient } from "../../src/porto/index.js";
import { newId } from "../../src/mapping/ids.js";
import { containerPortoName, podPortoName } from "../../src/mapping/porto-names.js";
import { PortoExecBackend } from "../../src/streaming/porto-exec.js";
import { portoLocator } from "../../src/streaming/locator.js";
import { ExecError } from "../../src/streaming/exec-backend.js";
import type { StdioStreams, TerminalSize } from "../../src/streaming/exec-backend.js";
import { execSync } from "../../src/cri/runtime/exec-sync.js";
import { exec as execRpc } from "../../src/cri/runtime/exec.js";
import { pattern } from "./fake-backend.js";
import { readAll, spdyExec } from "./spdy-client.js";
import { createStreamingServer } from "../../src/streaming/server.js";
import { ExecRequestSchema as ExecReq } from "../../gen/runtime/v1/api_pb.js";

let double: PortoDouble;
let porto: PortoClient;
let backend: PortoExecBackend;
const podId = newId();
const ctrId = newId();
const stoppedId = newId();

class Sink extends Writable {
  chunks: Buffer[] = [];
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void) {
    this.chunks.push(c);
    cb();
  }
  get text() {
    return Buffer.concat(this.chunks).toString();
  }
  get bytes() {
    return Buffer.concat(this.chunks);
  }
}

function io(extra: Partial<StdioStreams> = {}): StdioStreams & { stdout: Sink; stderr: Sink } {
  return { tty: false, stdout: new Sink(), stderr: new Sink(), signal: new AbortController().signal, ...extra } as never;
}

before(async () => {
  double = await startPortoDouble();
  porto = new PortoClient({ socketPath: double.socketPath });
  await porto.createFromSpec({ name: podPortoName(podId), command: "sleep 1000" }, { start: true });
  await porto.createFromSpec({ name: containerPortoName(podId, ctrId), command: "sleep 1000" }, { start: true });
  await porto.createFromSpec({ name: containerPortoName(podId, stoppedId), command: "true" });
  backend = new PortoExecBackend({ porto, locator: portoLocator(porto) });
});

after(async () => {
  backend.close();
  porto.close();
  await double.close();
});

describe("PortoExecBackend.exec", () => {
  it("runs argv without a shell and returns the exit code", async () => {
    const s = io();
    const code = await backend.exec(ctrId, ["sh", "-c", "echo out; echo err >&2; exit 3"], s);
    assert.equal(code, 3);
    assert.equal(s.stdout.text, "out\n");
    assert.equal(s.stderr.text, "err\n");
    assert.equal((await porto.list(`${containerPortoName(podId, ctrId)}/***`)).length, 0, "the exec container is gone");
  });

  it("takes a unique id prefix", async () => {
    const s = io();
    assert.equal(await backend.exec(ctrId.slice(0, 13), ["echo", "prefix"], s), 0);
    assert.equal(s.stdout.text, "prefix\n");
  });

  it("maps death by signal to 128+N", async () => {
    assert.equal(await backend.exec(ctrId, ["sh", "-c", "kill -9 $$"], io()), 137);
  });

  it("20 MB out, complete at exit", async () => {
    const s = io();
    const size = 20 * 1024 * 1024;
    assert.equal(await backend.exec(ctrId, ["head", "-c", String(size), "/dev/zero"], s), 0);
    assert.equal(s.stdout.bytes.length, size);
  });

  it("3 MB in, ended by the client's half-close", async () => {
    const stdin = new PassThrough();
    const s = io({ stdin });
    const done = backend.exec(ctrId, ["wc", "-c"], s);
    stdin.end(pattern(3 * 1024 * 1024));
    assert.equal(await done, 0);
    assert.equal(s.stdout.text.trim(), String(3 * 1024 * 1024));
  });

  it("output written by a background child after the main process exits is not waited for forever", async () => {
    const s = io();
    const t0 = Date.now();
    assert.equal(await backend.exec(ctrId, ["sh", "-c", "echo fg; (sleep 30; echo late) & exit 0"], s), 0);
    assert.match(s.stdout.text, /^fg\n/);
    assert.ok(Date.now() - t0 < 15_000);
  });

  it("kills the command when the client goes away", async () => {
    const ac = new AbortController();
    const s = io({ signal: ac.signal });
    const done = backend.exec(ctrId, ["sleep", "100"], s);
    setTimeout(() => ac.abort(), 200);
    assert.equal(await done, 137);
  });

  it("gives a terminal, with resize", async () => {
    const stdin = new PassThrough();
    const sizes = new PassThrough({ objectMode: true });
    const out = new Sink();
    const done = backend.exec(ctrId, ["sh", "-c", "read x; stty size; echo got $x; exit 4"], {
      tty: true,
      stdin,
      stdout: out,
      resize: sizes as unknown as AsyncIterable<TerminalSize>,
      signal: new AbortController().signal,
    });
    sizes.write({ width: 100, height: 30 });
    await new Promise((r) => setTimeout(r, 300));
    stdin.write("abc\n");
    assert.equal(await done, 4);
    sizes.end();
    assert.match(out.text, /30 100\r?\n/);
    assert.match(out.text, /got abc/);
  });

  it("refuses unknown ids and stopped containers", async () => {
    await assert.rejects(backend.exec(newId(), ["true"], io()), (e: ExecError) => e.reason === "not-found");
    await assert.rejects(backend.exec(stoppedId, ["true"], io()), (e: ExecError) => e.reason === "not-running");
    await assert.rejects(backend.exec(ctrId, ["/no/such/binary"], io()), /cannot start/);
  });
});

describe("PortoExecBackend.portForward", () => {
  it("connects to localhost in the pod's namespace (here the host's) and passes half-closes", async () => {
    const server = createServer({ allowHalfOpen: true }, (c) => {
      let n = 0;
      c.on("data", (d: Buffer) => (n += d.length));
      c.on("end", () => c.end(`${n}\n`));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const client = new PassThrough();
    const fromPod = new PassThrough();
    const { Duplex } = await import("node:stream");
    const stream = Duplex.from({ readable: client, writable: fromPod });
    const done = backend.portForward(podId.slice(0, 13), port, stream);
    client.end(Buffer.alloc(1000));
    await done;
    assert.equal((await readAll(fromPod)).toString(), "1000\n");
    server.close();
  });

  it("rejects a closed port", async () => {
    const { Duplex } = await import("node:stream");
    const stream = Duplex.from({ readable: new PassThrough(), writable: new PassThrough() });
    await assert.rejects(backend.portForward(podId, 1, stream), /ECONNREFUSED/);
  });
});

describe("ExecSync and Exec RPCs", () => {
  const deps = () => ({
    streaming: { execUrl: () => "http://x/exec/t", attachUrl: () => "", portForwardUrl: () => "" },
    execBackend: backend,
    locator: portoLocator(porto),
    porto,
  });

  it("returns output and exit code", async () => {
    const r = await execSync(deps(), create(ExecSyncRequestSchema, { containerId: ctrId, cmd: ["sh", "-c", "printf a; printf b >&2; exit 7"] }));
    assert.equal(Buffer.from(r.stdout).toString(), "a");
    assert.equal(Buffer.from(r.stderr).toString(), "b");
    assert.equal(r.exitCode, 7);
  });

  it("caps each stream", async () => {
    const r = await execSync(
      deps(),
      create(ExecSyncRequestSchema, { containerId: ctrId, cmd: ["head", "-c", "100000", "/dev/zero"] }),
      undefined,
      1000,
    );
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.exitCode, 0);
  });

  it("times out with DeadlineExceeded and kills the command", async () => {
    const t0 = Date.now();
    await assert.rejects(
      execSync(deps(), create(ExecSyncRequestSchema, { containerId: ctrId, cmd: ["sleep", "30"], timeout: 1n })),
      (e: ConnectError) => e.code === Code.DeadlineExceeded,
    );
    assert.ok(Date.now() - t0 < 5_000);
    assert.equal((await porto.list(`${containerPortoName(podId, ctrId)}/***`)).length, 0);
  });

  it("answers NotFound, FailedPrecondition, InvalidArgument", async () => {
    const code = (p: Promise<unknown>) => p.then(() => "ok", (e: ConnectError) => Code[e.code]);
    assert.equal(await code(execSync(deps(), create(ExecSyncRequestSchema, { containerId: newId(), cmd: ["true"] }))), "NotFound");
    assert.equal(await code(execSync(deps(), create(ExecSyncRequestSchema, { containerId: stoppedId, cmd: ["true"] }))), "FailedPrecondition");
    assert.equal(await code(execSync(deps(), create(ExecSyncRequestSchema, { containerId: ctrId, cmd: [] }))), "InvalidArgument");
    const { ExecRequestSchema } = await import("../../gen/runtime/v1/api_pb.js");
    assert.equal(
      await code(execRpc(deps(), create(ExecRequestSchema, { containerId: ctrId, cmd: ["sh"], tty: true, stderr: true }))),
      "InvalidArgument",
    );
    const ok = await execRpc(deps(), create(ExecRequestSchema, { containerId: ctrId.slice(0, 13), cmd: ["sh"], stdout: true }));
    assert.equal(ok.url, "http://x/exec/t");
  });
});

describe("end to end: SPDY client, streaming server, Porto backend, double", () => {
  it("runs concurrent sessions with stdin, exit codes and a terminal", async () => {
    const server = createStreamingServer({ address: "127.0.0.1", port: 0, backend });
    await server.listen();
    try {
      const url = (init: Parameters<typeof create<typeof ExecReq>>[1]) =>
        server.execUrl(create(ExecReq, { containerId: ctrId, stdout: true, ...init }));
      const plain = Array.from({ length: 8 }, (_, i) =>
        spdyExec(url({ cmd: ["sh", "-c", `cat; echo n${i} >&2; exit ${i}`], stdin: true, stderr: true }), {
          stdin: Buffer.from(`in${i}\n`),
          stderr: true,
        }),
      );
      const tty = spdyExec(url({ cmd: ["sh", "-c", "stty size"], tty: true, stdin: true }), {
        tty: true,
        stdin: new PassThrough(),
        resize: [{ Width: 90, Height: 20 }],
      });
      const results = await Promise.all(plain);
      results.forEach((r, i) => {
        assert.equal(r.stdout.toString(), `in${i}\n`);
        assert.equal(r.stderr.toString(), `n${i}\n`);
        const status = JSON.parse(r.error);
        if (i === 0) assert.equal(status.status, "Success");
        else assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: String(i) }]);
      });
      const t = await tty;
      assert.match(t.stdout.toString(), /20 90/);
    } finally {
      await server.close();
    }
  });
});
