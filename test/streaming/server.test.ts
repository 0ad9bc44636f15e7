/**
 * The streaming server's protocols against a fake backend: every SPDY
 * channel version, the WebSocket protocols, port forwarding over both,
 * negotiation, tokens, large payloads, resize, half-close, clients going away
 * and concurrent sessions.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { AttachRequestSchema, ExecRequestSchema, PortForwardRequestSchema } from "../../gen/runtime/v1/api_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createStreamingServer } from "../../src/streaming/server.js";
import type { StreamingServer } from "../../src/streaming/server.js";
import { FakeBackend, countingServer, pattern, sourceServer } from "./fake-backend.js";
import { readAll, spdyConnect, spdyExec, upgradeRequest } from "./spdy-client.js";
import { wsConnect } from "./ws-client.js";

const backend = new FakeBackend();
let server: StreamingServer;
const closers: (() => void)[] = [];

function execUrl(init: MessageInitShape<typeof ExecRequestSchema>): string {
  return server.execUrl(create(ExecRequestSchema, { containerId: "c1", stdout: true, ...init }));
}

before(async () => {
  server = createStreamingServer({ address: "127.0.0.1", port: 0, backend, streamCreationTimeoutMs: 1_000 });
  await server.listen();
  for (const [port, make] of [
    [7001, () => countingServer()],
    [7002, () => sourceServer(20 * 1024 * 1024)],
    [7003, () => countingServer("hello from the pod\n")],
  ] as const) {
    const s = await make();
    backend.targets.set(port, s.port);
    closers.push(() => s.server.close());
  }
});

after(async () => {
  for (const c of closers) c();
  await server.close();
});

describe("URLs and tokens", () => {
  it("builds URLs on the listen address with a fresh token each time", () => {
    const a = execUrl({ cmd: ["echo"] });
    const b = execUrl({ cmd: ["echo"] });
    assert.match(a, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
    assert.notEqual(a, b);
  });

  it("refuses a token used twice", async () => {
    const url = execUrl({ cmd: ["echo", "once"] });
    const r = await spdyExec(url, {});
    assert.equal(r.stdout.toString(), "once\n");
    await assert.rejects(spdyExec(url, {}), /upgrade refused: 404/);
  });

  it("refuses an expired token", async () => {
    const short = createStreamingServer({ address: "127.0.0.1", port: 0, backend, tokenTtlMs: 30 });
    await short.listen();
    try {
      const url = short.execUrl(create(ExecRequestSchema, { containerId: "c1", cmd: ["echo"], stdout: true }));
      await new Promise((r) => setTimeout(r, 80));
      await assert.rejects(spdyExec(url, {}), /upgrade refused: 404/);
    } finally {
      await short.close();
    }
  });

  it("refuses a token on another endpoint, and unknown paths", async () => {
    const url = execUrl({ cmd: ["echo"] }).replace("/exec/", "/attach/");
    await assert.rejects(spdyExec(url, {}), /upgrade refused: 404/);
    await assert.rejects(spdyExec(`${server.baseUrl}/exec/not-a-token`, {}), /upgrade refused: 404/);
  });

  it("takes nothing from the query: the request bound to the token decides", async () => {
    const before = backend.calls.length;
    const url = execUrl({ cmd: ["echo", "bound"] }) + "?command=rm&command=-rf&container=other";
    const r = await spdyExec(url, {});
    assert.equal(r.stdout.toString(), "bound\n");
    assert.deepEqual(backend.calls[before], { kind: "exec", id: "c1", argv: ["echo", "bound"], tty: false });
  });

  it("answers a request without upgrade headers with 400 and uses the token up", async () => {
    const url = execUrl({ cmd: ["echo"] });
    const r = await fetch(url, { method: "POST" });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /missing upgrade headers/);
    await assert.rejects(spdyExec(url, {}), /upgrade refused: 404/);
  });
});

describe("SPDY negotiation", () => {
  it("picks the client's first supported version", async () => {
    const { client, protocol } = await spdyConnect(execUrl({ cmd: ["echo"] }), ["v9.channel.k8s.io", "v3.channel.k8s.io", "v4.channel.k8s.io"]);
    assert.equal(protocol, "v3.channel.k8s.io");
    client.socket.destroy();
  });

  it("refuses unknown versions with 403 and lists the server's", async () => {
    const r = await upgradeRequest(execUrl({ cmd: ["echo"] }), [
      ["Connection", "Upgrade"],
      ["Upgrade", "SPDY/3.1"],
      ["X-Stream-Protocol-Version", "v9.channel.k8s.io"],
    ]);
    assert.equal(r.status, 403);
    assert.match(r.body, /unable to negotiate protocol/);
    assert.deepEqual(r.headers["x-accept-stream-protocol-version"], [
      "v4.channel.k8s.io",
      "v3.channel.k8s.io",
      "v2.channel.k8s.io",
      "channel.k8s.io",
    ]);
  });

  it("requires X-Stream-Protocol-Version (400)", async () => {
    const r = await upgradeRequest(execUrl({ cmd: ["echo"] }), [
      ["Connection", "Upgrade"],
      ["Upgrade", "SPDY/3.1"],
    ]);
    assert.equal(r.status, 400);
    assert.match(r.body, /X-Stream-Protocol-Version is required/);
  });

  it("refuses other upgrade protocols (400)", async () => {
    const r = await upgradeRequest(execUrl({ cmd: ["echo"] }), [
      ["Connection", "Upgrade"],
      ["Upgrade", "h2c"],
    ]);
    assert.equal(r.status, 400);
  });
});

describe("exec over SPDY", () => {
  it("v4: stdout and a JSON Success status", async () => {
    const r = await spdyExec(execUrl({ cmd: ["echo", "hello"] }), {});
    assert.equal(r.protocol, "v4.channel.k8s.io");
    assert.equal(r.stdout.toString(), "hello\n");
    assert.deepEqual(JSON.parse(r.error), { metadata: {}, status: "Success" });
  });

  it("v4: a non-zero exit code in the Status", async () => {
    const r = await spdyExec(execUrl({ cmd: ["exit", "3"] }), {});
    const status = JSON.parse(r.error);
    assert.equal(status.status, "Failure");
    assert.equal(status.reason, "NonZeroExitCode");
    assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "3" }]);
  });

  for (const version of ["v3.channel.k8s.io", "v2.channel.k8s.io"]) {
    it(`${version}: output, and the error as text`, async () => {
      const ok = await spdyExec(execUrl({ cmd: ["echo", "x"] }), { protocols: [version] });
      assert.equal(ok.protocol, version);
      assert.equal(ok.stdout.toString(), "x\n");
      assert.equal(ok.error, "");
      const bad = await spdyExec(execUrl({ cmd: ["exit", "2"] }), { protocols: [version] });
      assert.match(bad.error, /^command terminated with non-zero exit code/);
    });
  }

  it("channel.k8s.io (v1): output; the error stream is reset as Kubernetes 1.0 did", async () => {
    const r = await spdyExec(execUrl({ cmd: ["echo", "old"] }), { protocols: ["channel.k8s.io"] });
    assert.equal(r.protocol, "channel.k8s.io");
    assert.equal(r.stdout.toString(), "old\n");
    assert.equal(r.error, "");
  });

  it("stderr is its own stream", async () => {
    const r = await spdyExec(execUrl({ cmd: ["err", "oops"], stderr: true }), { stderr: true });
    assert.equal(r.stderr.toString(), "oops");
    assert.equal(r.stdout.toString(), "");
  });

  it("20 MB out arrive whole", async () => {
    const size = 20 * 1024 * 1024;
    const r = await spdyExec(execUrl({ cmd: ["big", String(size)] }), {});
    assert.equal(r.stdout.length, size);
    assert.ok(r.stdout.equals(pattern(size)));
  });

  it("3 MB in arrive whole, and the half-close ends stdin", async () => {
    const size = 3 * 1024 * 1024;
    const r = await spdyExec(execUrl({ cmd: ["count"], stdin: true }), { stdin: pattern(size) });
    assert.equal(r.stdout.toString(), `${size}\n`);
  });

  it("cat: stdin comes back as stdout", async () => {
    const r = await spdyExec(execUrl({ cmd: ["cat"], stdin: true }), { stdin: Buffer.from("ping\npong\n") });
    assert.equal(r.stdout.toString(), "ping\npong\n");
  });

  it("tty with resize (v4 and v3)", async () => {
    for (const version of ["v4.channel.k8s.io", "v3.channel.k8s.io"]) {
      const r = await spdyExec(execUrl({ cmd: ["resizes", "2"], tty: true, stdin: true }), {
        protocols: [version],
        tty: true,
        stdin: Buffer.alloc(0),
        resize: [
          { Width: 80, Height: 24 },
          { Width: 132, Height: 43 },
        ],
      });
      assert.equal(r.stdout.toString(), "80x24\n132x43\n", version);
    }
  });

  it("a backend that cannot start the command answers an internal error", async () => {
    const r = await spdyExec(execUrl({ cmd: ["fail"] }), {});
    const status = JSON.parse(r.error);
    assert.equal(status.reason, "InternalError");
    assert.match(status.message, /cannot start: no such file/);
  });

  it("a client that goes away aborts the command", async () => {
    const before = backend.aborted;
    await spdyExec(execUrl({ cmd: ["hang"] }), {
      onReady: (client) => setTimeout(() => client.socket.destroy(), 20),
    }).catch(() => undefined);
    for (let i = 0; i < 50 && backend.aborted === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(backend.aborted, before + 1);
  });

  it("a client that never opens its streams is dropped after the creation timeout", async () => {
    const { client } = await spdyConnect(execUrl({ cmd: ["echo"] }), ["v4.channel.k8s.io"]);
    await client.createStream({ streamtype: "error" });
    const t0 = Date.now();
    await client.closed;
    assert.ok(Date.now() - t0 >= 900);
  });

  it("answers pings and refuses unknown stream types", async () => {
    const { client } = await spdyConnect(execUrl({ cmd: ["echo"] }), ["v4.channel.k8s.io"]);
    const odd = await client.createStream({ streamtype: "bogus" }, false);
    await assert.rejects(odd.replied, /reset/);
    client.ping(7);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(client.frames.some((f) => f.type === "ping" && f.id === 7));
    client.socket.destroy();
  });

  it("runs concurrent sessions independently", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => spdyExec(execUrl({ cmd: ["echo", `n${i}`] }), {})),
    );
    results.forEach((r, i) => assert.equal(r.stdout.toString(), `n${i}\n`));
  });
});

describe("attach", () => {
  it("over SPDY v4", async () => {
    const url = server.attachUrl(create(AttachRequestSchema, { containerId: "c2", stdin: true, stdout: true }));
    const r = await spdyExec(url, { stdin: Buffer.from("typed\n") });
    assert.equal(r.stdout.toString(), "attached\ntyped\n");
    assert.deepEqual(JSON.parse(r.error), { metadata: {}, status: "Success" });
  });
});

describe("exec over WebSocket", () => {
  it("v5: ready message, stdout, JSON status, normal close", async () => {
    const s = await wsConnect(execUrl({ cmd: ["echo", "hi"] }), ["v5.channel.k8s.io"]);
    assert.equal(s.protocol, "v5.channel.k8s.io");
    const { code } = await s.closed;
    assert.equal(code, 1000);
    assert.deepEqual(s.messages[0], [1, Buffer.alloc(0)]);
    assert.equal(s.data(1).toString(), "hi\n");
    assert.deepEqual(JSON.parse(s.data(3).toString()), { metadata: {}, status: "Success" });
  });

  it("v5: the close signal half-closes stdin", async () => {
    const s = await wsConnect(execUrl({ cmd: ["cat"], stdin: true }), ["v5.channel.k8s.io"]);
    s.send(0, "abc");
    s.closeChannel(0);
    await s.closed;
    assert.equal(s.data(1).toString(), "abc");
  });

  it("v5: 20 MB out and 3 MB in", async () => {
    const out = 20 * 1024 * 1024;
    const s = await wsConnect(execUrl({ cmd: ["big", String(out)] }), ["v5.channel.k8s.io"]);
    await s.closed;
    assert.ok(s.data(1).equals(pattern(out)));
    const inSize = 3 * 1024 * 1024;
    const t = await wsConnect(execUrl({ cmd: ["count"], stdin: true }), ["v5.channel.k8s.io"]);
    const data = pattern(inSize);
    for (let o = 0; o < inSize; o += 32 * 1024) t.send(0, data.subarray(o, o + 32 * 1024));
    t.closeChannel(0);
    await t.closed;
    assert.equal(t.data(1).toString(), `${inSize}\n`);
  });

  it("v4.base64: base64 text frames, exit code in the status", async () => {
    const s = await wsConnect(execUrl({ cmd: ["exit", "5"] }), ["v4.base64.channel.k8s.io"]);
    assert.equal(s.protocol, "v4.base64.channel.k8s.io");
    await s.closed;
    const status = JSON.parse(s.data(3).toString());
    assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "5" }]);
  });

  it("v4: resize on channel 4", async () => {
    const s = await wsConnect(execUrl({ cmd: ["resizes", "1"], tty: true, stdin: true }), ["v4.channel.k8s.io"]);
    s.send(4, JSON.stringify({ Width: 100, Height: 30 }));
    await s.closed;
    assert.equal(s.data(1).toString(), "100x30\n");
  });

  it("channel.k8s.io and no subprotocol: binary, errors as text", async () => {
    const s = await wsConnect(execUrl({ cmd: ["exit", "4"] }), ["channel.k8s.io"]);
    await s.closed;
    assert.match(s.data(3).toString(), /^command terminated with non-zero exit code/);
    const t = await wsConnect(execUrl({ cmd: ["echo", "plain"] }), []);
    await t.closed;
    assert.equal(t.data(1).toString(), "plain\n");
  });

  it("base64.channel.k8s.io", async () => {
    const s = await wsConnect(execUrl({ cmd: ["echo", "b64"] }), ["base64.channel.k8s.io"]);
    await s.closed;
    assert.equal(s.data(1).toString(), "b64\n");
  });

  it("refuses unsupported subprotocols with 403", async () => {
    await assert.rejects(wsConnect(execUrl({ cmd: ["echo"] }), ["v9.channel.k8s.io"]), (e: Error & { status?: number }) => {
      assert.equal(e.status, 403);
      assert.match(e.message, /not supported/);
      return true;
    });
  });

  it("a client that goes away aborts the command", async () => {
    const before = backend.aborted;
    const s = await wsConnect(execUrl({ cmd: ["hang"] }), ["v5.channel.k8s.io"]);
    s.ws.terminate();
    for (let i = 0; i < 50 && backend.aborted === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(backend.aborted, before + 1);
  });
});

describe("port forward over SPDY", () => {
  async function pair(client: Awaited<ReturnType<typeof spdyConnect>>["client"], port: number, requestId: string) {
    const error = await client.createStream({ streamtype: "error", port: String(port), requestid: requestId });
    const data = await client.createStream({ streamtype: "data", port: String(port), requestid: requestId });
    return { error, data };
  }

  it("forwards many connections at once; a closed port fails only its own pair", async () => {
    const pf = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: "p1" }));
    const { client, protocol } = await spdyConnect(pf, ["portforward.k8s.io"]);
    assert.equal(protocol, "portforward.k8s.io");
    const pairs = await Promise.all([pair(client, 7001, "0"), pair(client, 1, "1"), pair(client, 7003, "2")]);
    pairs[0].data.end(Buffer.alloc(12345));
    pairs[2].data.end("x");
    const [a, bErr, c] = await Promise.all([
      readAll(pairs[0].data),
      readAll(pairs[1].error),
      readAll(pairs[2].data),
    ]);
    assert.equal(a.toString(), "12345\n");
    assert.match(bErr.toString(), /error forwarding port 1 to pod sandbox p1: connect ECONNREFUSED/);
    assert.equal(c.toString(), "hello from the pod\n1\n");
    // the session is still alive for a new connection after the failure
    const late = await pair(client, 7001, "3");
    late.data.end("abc");
    assert.equal((await readAll(late.data)).toString(), "3\n");
    client.close();
  });

  it("carries 20 MB from the pod", async () => {
    const pf = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: "p1" }));
    const { client } = await spdyConnect(pf, ["portforward.k8s.io"]);
    const p = await pair(client, 7002, "0");
    p.data.end();
    const got = await readAll(p.data);
    assert.ok(got.equals(pattern(20 * 1024 * 1024)));
    client.close();
  });

  it("resets streams without a valid port", async () => {
    const pf = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: "p1" }));
    const { client } = await spdyConnect(pf, ["portforward.k8s.io"]);
    const bad = await client.createStream({ streamtype: "data", port: "0", requestid: "9" }, false);
    await assert.rejects(bad.replied, /reset/);
    const none = await client.createStream({ streamtype: "data", requestid: "9" }, false);
    await assert.rejects(none.replied, /reset/);
    client.close();
  });

  it("pairs streams of clients without request ids by stream id", async () => {
    const pf = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: "p1" }));
    const { client } = await spdyConnect(pf, ["portforward.k8s.io"]);
    await client.createStream({ streamtype: "error", port: "7001" });
    const data = await client.createStream({ streamtype: "data", port: "7001" });
    data.end("12");
    assert.equal((await readAll(data)).toString(), "2\n");
    client.close();
  });
});

describe("port forward over WebSocket", () => {
  it("v4.channel.k8s.io: port prefixes, data both ways, errors per port", async () => {
    const pf = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: "p1", port: [7003, 1] }));
    const s = await wsConnect(pf, ["v4.channel.k8s.io"]);
    s.send(0, "abcd");
    await new Promise((r) => setTimeout(r, 100));
    s.ws.close();
    await s.closed;
    const port = (b: Buffer) => b.readUInt16LE(0);
    assert.equal(port(s.channels.get(0)![0]), 7003);
    assert.equal(port(s.channels.get(1)![0]), 7003);
    assert.equal(port(s.channels.get(2)![0]), 1);
    assert.equal(s.data(0).subarray(2).toString().startsWith("hello from the pod\n"), true);
    assert.match(s.data(3).subarray(2).toString(), /error forwarding port 1/);
  });

  it("takes ports from the query when the request named none", async () => {
    const pf = server.portForwardUrl(create(PortForwardRequestSchema, { podSandboxId: "p1" }));
    const s = await wsConnect(`${pf}?port=7003`, ["v4.channel.k8s.io"]);
    await new Promise((r) => setTimeout(r, 100));
    s.ws.close();
    await s.closed;
    assert.equal(s.channels.get(0)![0].readUInt16LE(0), 7003);
  });
});
