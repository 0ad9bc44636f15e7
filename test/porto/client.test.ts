/**
 * The Porto client against a tiny fake portod: a unix socket server speaking
 * the real framing and messages, whose answers each test scripts.
 */

import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { create, fromBinary, isFieldSet, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import {
  EError,
  TContainerRequestSchema,
  TContainerResponseSchema,
  TSetLabelRequestSchema,
  TContainerStopRequestSchema,
  TContainerWaitRequestSchema,
} from "../../gen/rpc_pb.js";
import type { TContainerRequest, TContainerWaitResponseSchema } from "../../gen/rpc_pb.js";
import { frame, FrameReader, MAX_MESSAGE_BYTES } from "../../src/porto/framing.js";
import { PortoClient } from "../../src/porto/client.js";
import { PortoConnection } from "../../src/porto/connection.js";
import { PortoError, toConnectError } from "../../src/porto/errors.js";
import { subscribe } from "../../src/porto/events.js";
import type { PortoEvent, Subscription } from "../../src/porto/events.js";
import { requestMethod } from "../../src/porto/request.js";

// ---------------------------------------------------------------- fake portod

type ResponseInit = MessageInitShape<typeof TContainerResponseSchema>;
/** What a handler answers: a reply, raw bytes, silence, or a dropped connection. */
type Reply = ResponseInit | Uint8Array | "hang" | "close";
type Handler = (req: TContainerRequest, method: string, peer: Peer) => Reply | Promise<Reply>;

const ok = (extra: ResponseInit = {}): ResponseInit => ({ error: EError.Success, ...extra });

class Peer {
  /** Requests received and not yet answered: portod never has more than one. */
  unanswered = 0;
  constructor(
    readonly socket: net.Socket,
    readonly id: number,
  ) {}

  send(reply: ResponseInit | Uint8Array): void {
    const bytes = reply instanceof Uint8Array ? reply : frame(toBinary(TContainerResponseSchema, create(TContainerResponseSchema, reply)));
    this.socket.write(bytes);
  }

  /** Pushes an AsyncWait event, as portod's TClient::QueueReport does. */
  event(ev: MessageInitShape<typeof TContainerWaitResponseSchema>): void {
    this.send({ error: EError.Success, AsyncWait: ev });
  }
}

class FakePortod {
  readonly path: string;
  handler: Handler = () => ok();
  readonly requests: { method: string; req: TContainerRequest; peer: number }[] = [];
  readonly peers = new Set<Peer>();
  connections = 0;
  closedConnections = 0;
  /** Times a request arrived while the previous one on that connection was unanswered. */
  overlapped = 0;
  private server: net.Server | undefined;

  constructor() {
    this.path = path.join(os.tmpdir(), `portoshim-test-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  }

  static async start(handler?: Handler): Promise<FakePortod> {
    const fake = new FakePortod();
    if (handler) fake.handler = handler;
    await fake.listen();
    return fake;
  }

  listen(): Promise<void> {
    fs.rmSync(this.path, { force: true });
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.path, () => resolve());
    });
  }

  /** Stops listening and drops every connection, as `portod stop` or a crash would. */
  async stop(): Promise<void> {
    for (const peer of this.peers) peer.socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.path, { force: true });
  }

  /** Drops every connection but keeps listening, as `portod reload` does. */
  dropAll(): void {
    for (const peer of this.peers) peer.socket.destroy();
  }

  count(method: string): number {
    return this.requests.filter((r) => r.method === method).length;
  }

  private accept(socket: net.Socket): void {
    const peer = new Peer(socket, ++this.connections);
    this.peers.add(peer);
    const reader = new FrameReader();
    socket.on("close", () => {
      this.peers.delete(peer);
      this.closedConnections++;
    });
    socket.on("error", () => undefined);
    socket.on("data", (chunk) => {
      for (const bytes of reader.push(chunk)) {
        const req = fromBinary(TContainerRequestSchema, bytes);
        const method = requestMethod(req);
        this.requests.push({ method, req, peer: peer.id });
        if (++peer.unanswered > 1) this.overlapped++;
        void Promise.resolve(this.handler(req, method, peer)).then((reply) => {
          if (reply === "hang") return;
          if (reply === "close") {
            socket.destroy();
            return;
          }
          peer.unanswered--;
          if (!socket.destroyed) peer.send(reply);
        });
      }
    });
  }
}

// ---------------------------------------------------------------- helpers

/** A test that fails within seconds instead of hanging when the client loses a reply. */
function check(name: string, fn: () => Promise<void>): void {
  test(name, { timeout: 5000 }, fn);
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startFake(handler?: Handler): Promise<FakePortod> {
  const fake = await FakePortod.start(handler);
  cleanups.push(() => fake.stop());
  return fake;
}

function client(fake: FakePortod, options: ConstructorParameters<typeof PortoClient>[0] = {}): PortoClient {
  const c = new PortoClient({ socketPath: fake.path, ...options });
  cleanups.push(() => c.close());
  return c;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what: string, cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Resolves when the test lets it: a reply the test releases at the right moment. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<PortoError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PortoError, `expected a PortoError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${EError[code]}, got ${err.codeName}: ${err.portoMessage}`);
    return err;
  }
  assert.fail(`expected rejection with ${EError[code] ?? code}`);
}

async function take(it: AsyncIterator<PortoEvent>, n: number): Promise<PortoEvent[]> {
  const out: PortoEvent[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

function eventsOf(fake: FakePortod, sub: Subscription): AsyncIterator<PortoEvent> {
  cleanups.push(() => sub.close());
  void fake;
  return sub[Symbol.asyncIterator]();
}

// ---------------------------------------------------------------- connection

describe("connection", () => {
  check("runs one request at a time and matches replies in order", async () => {
    const fake = await startFake(async (req) => {
      await sleep(5);
      return ok({ getProperty: { value: req.getProperty?.name ?? "" } });
    });
    const conn = await PortoConnection.open({ socketPath: fake.path });
    cleanups.push(() => conn.close());
    const names = ["a", "b", "c", "d"];
    const replies = await Promise.all(
      names.map((name) => conn.call(create(TContainerRequestSchema, { getProperty: { name, property: "state" } }))),
    );
    assert.deepEqual(
      replies.map((r) => r.getProperty?.value),
      names,
    );
    assert.equal(fake.overlapped, 0, "a second request was sent before the first reply");
    assert.equal(fake.connections, 1);
  });

  check("AsyncWait events pushed before a reply go to the event callback, not to the caller", async () => {
    const fake = await startFake((_req, method, peer) => {
      if (method === "list") {
        peer.event({ name: "a", state: "dead", when: 10n });
        peer.event({ name: "b", state: "running", when: 11n, label: "CRI.x", value: "1" });
        return ok({ list: { name: ["a", "b"] } });
      }
      return ok();
    });
    const events: string[] = [];
    const conn = await PortoConnection.open({
      socketPath: fake.path,
      onEvent: (ev) => events.push(`${ev.name}:${ev.state}:${ev.label}`),
    });
    cleanups.push(() => conn.close());
    const rsp = await conn.call(create(TContainerRequestSchema, { list: {} }));
    assert.deepEqual(rsp.list?.name, ["a", "b"]);
    assert.equal(rsp.AsyncWait, undefined);
    assert.deepEqual(events, ["a:dead:", "b:running:CRI.x"]);
    // The connection is still in step: the next call gets its own reply.
    const again = await conn.call(create(TContainerRequestSchema, { list: {} }));
    assert.deepEqual(again.list?.name, ["a", "b"]);
  });

  check("the bare reply to an AsyncWait request is a reply, the pushed events are events", async () => {
    const fake = await startFake((_req, method, peer) => {
      if (method === "AsyncWait") {
        setTimeout(() => peer.event({ name: "x", state: "stopped", when: 1n }), 5);
        return ok();
      }
      return ok();
    });
    const events: string[] = [];
    const conn = await PortoConnection.open({ socketPath: fake.path, onEvent: (ev) => events.push(ev.name) });
    cleanups.push(() => conn.close());
    const rsp = await conn.call(create(TContainerRequestSchema, { AsyncWait: { name: ["***"] } }));
    assert.equal(rsp.error, EError.Success);
    await until("event", () => events.length === 1);
    assert.deepEqual(events, ["x"]);
  });

  check("a reply frame over 32 MiB drops the connection with SocketError", async () => {
    const fake = await startFake(() => {
      const len: number[] = [];
      let n = MAX_MESSAGE_BYTES + 1;
      while (n >= 0x80) {
        len.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      len.push(n);
      return Uint8Array.from(len);
    });
    const conn = await PortoConnection.open({ socketPath: fake.path });
    const err = await rejectsWith(conn.call(create(TContainerRequestSchema, { version: {} })), EError.SocketError);
    assert.match(err.portoMessage, /exceeds/);
    assert.ok(conn.closed);
    await until("server sees the close", () => fake.closedConnections === 1);
  });

  check("a reply nobody asked for drops the connection instead of being taken for the next reply", async () => {
    const fake = await startFake(() => ok());
    const conn = await PortoConnection.open({ socketPath: fake.path });
    await conn.call(create(TContainerRequestSchema, { version: {} }));
    [...fake.peers][0].send(ok({ version: { tag: "stale", revision: "" } }));
    await until("connection closed", () => conn.closed);
    await rejectsWith(conn.call(create(TContainerRequestSchema, { version: {} })), EError.SocketError);
  });

  check("a request larger than 32 MiB is refused before it is sent", async () => {
    const fake = await startFake();
    const conn = await PortoConnection.open({ socketPath: fake.path, maxMessageBytes: 1024 });
    cleanups.push(() => conn.close());
    const big = "x".repeat(2048);
    await rejectsWith(conn.call(create(TContainerRequestSchema, { setProperty: { name: "a", property: "p", value: big } })), EError.InvalidValue);
    assert.equal(fake.requests.length, 0);
    assert.ok(!conn.closed);
  });
});

// ---------------------------------------------------------------- client and pool

describe("client over the pool", () => {
  check("builds requests from the generated schemas and returns the replies", async () => {
    const fake = await startFake((req, method) => {
      switch (method) {
        case "version":
          return ok({ version: { tag: "5.3.59", revision: "abc" } });
        case "list":
          return ok({ list: { name: ["a", "a/b"] } });
        case "get":
          return ok({
            get: {
              list: [
                {
                  name: "a",
                  keyval: [
                    { variable: "state", value: "running" },
                    { variable: "exit_code", error: EError.InvalidState, errorMsg: "not dead" },
                  ],
                },
              ],
            },
          });
        case "IncLabel":
          return ok({ IncLabel: { result: 41n + (req.IncLabel?.add ?? 0n) } });
        case "dockerImageStatus":
          return req.dockerImageStatus?.name === "there"
            ? ok({ dockerImageStatus: { image: { id: "sha256:1", tags: ["there:latest"] } } })
            : { error: EError.DockerImageNotFound, errorMsg: "no such image" };
        default:
          return ok();
      }
    });
    const c = client(fake);
    assert.equal((await c.version()).tag, "5.3.59");
    assert.deepEqual(await c.list("a*"), ["a", "a/b"]);
    assert.equal(fake.requests.at(-1)?.req.list?.mask, "a*");

    const got = await c.get(["a"], ["state", "exit_code"]);
    assert.deepEqual(got.get("a")?.get("state"), { value: "running" });
    const exit = got.get("a")?.get("exit_code");
    assert.ok(exit && "error" in exit);
    assert.equal(exit.error.code, EError.InvalidState);

    assert.equal(await c.incLabel("a", "CRI.n", 1), 42n);
    assert.equal((await c.dockerImageStatus("there")).id, "sha256:1");
    const nf = await rejectsWith(c.dockerImageStatus("missing"), EError.DockerImageNotFound);
    assert.equal(toConnectError(nf).code, Code.NotFound);

    await c.setLabel("a", "CRI.x", "1");
    const plain = fake.requests.at(-1)!.req.SetLabel!;
    assert.ok(!isFieldSet(plain, TSetLabelRequestSchema.field.prevValue), "prev_value must stay unset");
    await c.setLabel("a", "CRI.x", "2", { prevValue: "" });
    const cas = fake.requests.at(-1)!.req.SetLabel!;
    assert.ok(isFieldSet(cas, TSetLabelRequestSchema.field.prevValue), "an empty prev_value is a compare-and-set");

    await c.stop("a", 2500);
    assert.equal(fake.requests.at(-1)!.req.stop!.timeoutMs, 2500);
    await c.stop("a");
    assert.ok(!isFieldSet(fake.requests.at(-1)!.req.stop!, TContainerStopRequestSchema.field.timeoutMs));

    await c.createFromSpec({ name: "a/b", command: "sleep 1" }, { volumes: [{ path: "/v", backend: "plain" }], start: true });
    const cfs = fake.requests.at(-1)!.req.CreateFromSpec!;
    assert.equal(cfs.container?.name, "a/b");
    assert.equal(cfs.volumes[0].backend, "plain");
    assert.equal(cfs.start, true);

    await c.linkVolume("/v", "a", { target: "/mnt", readOnly: true });
    assert.equal(fake.requests.at(-1)!.method, "LinkVolumeTarget");
    await c.linkVolume("/v", "a");
    assert.equal(fake.requests.at(-1)!.method, "linkVolume");
  });

  check("an error code newer than our rpc.proto keeps its number", async () => {
    // error = 9999 (unknown to EError), errorMsg = "future"
    const raw = Uint8Array.from([0x08, 0x8f, 0x4e, 0x12, 6, ...Buffer.from("future")]);
    const fake = await startFake(() => frame(raw));
    const c = client(fake);
    const err = await rejectsWith(c.start("a"), 9999);
    assert.equal(err.codeName, "E9999");
    assert.equal(err.portoMessage, "future");
    assert.equal(toConnectError(err).code, Code.Internal);
  });

  check("concurrent calls use separate connections; a long wait does not hold up others", async () => {
    const release = gate();
    const fake = await startFake(async (_req, method) => {
      if (method === "wait") {
        await release.promise;
        return ok({ wait: { name: "a", state: "dead" } });
      }
      return ok({ version: { tag: "t", revision: "r" } });
    });
    const c = client(fake, { timeoutMs: 1000 });
    const waiting = c.wait(["a"]);
    await until("wait sent", () => fake.count("wait") === 1);
    const started = Date.now();
    await Promise.all([c.version(), c.version(), c.version()]);
    assert.ok(Date.now() - started < 500, "version calls queued behind the wait");
    assert.equal(fake.overlapped, 0);
    assert.ok(fake.connections >= 2);
    release.open();
    assert.equal((await waiting).state, "dead");
  });

  check("the pool grows up to maxConnections, queues beyond it, and keeps idleConnections open", async () => {
    let inFlight = 0;
    let most = 0;
    const fake = await startFake(async () => {
      most = Math.max(most, ++inFlight);
      await sleep(15);
      inFlight--;
      return ok({ version: { tag: "t", revision: "r" } });
    });
    const c = client(fake, { maxConnections: 3, idleConnections: 2 });
    await Promise.all(Array.from({ length: 9 }, () => c.version()));
    assert.equal(most, 3);
    assert.equal(fake.connections, 3);
    assert.equal(fake.overlapped, 0);
    await until("extra connection closed", () => fake.closedConnections === 1);
    await c.version();
    assert.equal(fake.connections, 3, "an idle connection was reused");
  });

  check("a deadline fails with SocketTimeout and replaces the connection", async () => {
    const fake = await startFake((_req, method) => (method === "getProperty" ? "hang" : ok({ version: { tag: "t", revision: "r" } })));
    const c = client(fake, { timeoutMs: 40 });
    const err = await rejectsWith(c.getProperty("a", "state"), EError.SocketTimeout);
    assert.equal(toConnectError(err).code, Code.DeadlineExceeded);
    await until("server sees the timed-out connection close", () => fake.closedConnections === 1);
    await c.version();
    assert.equal(fake.connections, 2, "the next call used a new connection");
    assert.equal(fake.count("getProperty"), 1, "a timed-out call is not repeated");
  });

  check("a per-call timeout overrides the default, and 0 means none", async () => {
    const fake = await startFake(async (_req, method) => {
      if (method === "version") await sleep(60);
      return ok({ version: { tag: "t", revision: "r" } });
    });
    const c = client(fake, { timeoutMs: 20 });
    await rejectsWith(c.version(), EError.SocketTimeout);
    assert.equal((await c.version({ timeoutMs: 0 })).tag, "t");
    assert.equal((await c.version({ timeoutMs: 500 })).tag, "t");
  });

  check("waits and pulls are not capped by the ordinary timeout", async () => {
    const fake = await startFake(async (_req, method) => {
      await sleep(80);
      if (method === "wait") return ok({ wait: { name: "a", state: "dead" } });
      return ok({ pullDockerImage: { image: { id: "sha256:2" } } });
    });
    const c = client(fake, { timeoutMs: 20 });
    assert.equal((await c.wait(["a"])).state, "dead");
    assert.equal((await c.pullDockerImage({ name: "busybox" })).id, "sha256:2");
    // A wait with a server-side timeout gets that time on top of the ordinary deadline.
    assert.equal((await c.wait(["a"], 500)).name, "a");
    const w = fake.requests.at(-1)!.req.wait!;
    assert.equal(w.timeoutMs, 500);
    // An explicit deadline still applies.
    await rejectsWith(c.wait(["a"], undefined, { timeoutMs: 20 }), EError.SocketTimeout);
    const forever = fake.requests.find((r) => r.method === "wait")!.req.wait!;
    assert.ok(!isFieldSet(forever, TContainerWaitRequestSchema.field.timeoutMs), "no timeout_ms means wait forever");
  });

  check("an abort signal cancels a wait and drops its connection", async () => {
    const fake = await startFake(() => "hang");
    const c = client(fake);
    const ac = new AbortController();
    const waiting = c.wait(["a"], undefined, { signal: ac.signal });
    await until("wait sent", () => fake.count("wait") === 1);
    ac.abort();
    await assert.rejects(waiting, (err: Error) => err.name === "AbortError");
    assert.equal(toConnectError(await waiting.catch((e: unknown) => e)).code, Code.Canceled);
    await until("connection dropped", () => fake.closedConnections === 1);
  });

  check("a connection lost mid-request fails a request that changes state, and does not repeat it", async () => {
    const fake = await startFake((_req, method) => (method === "start" ? "close" : ok()));
    const c = client(fake);
    const err = await rejectsWith(c.start("a"), EError.SocketError);
    assert.equal(toConnectError(err).code, Code.Unavailable);
    assert.equal(fake.count("start"), 1);
  });

  check("a read-only request lost mid-flight is repeated once on a fresh connection", async () => {
    let lists = 0;
    const fake = await startFake((_req, method) => {
      if (method === "list" && ++lists === 1) return "close";
      return ok({ list: { name: ["a"] } });
    });
    const c = client(fake);
    assert.deepEqual(await c.list(), ["a"]);
    assert.equal(fake.count("list"), 2);
    assert.deepEqual(
      fake.requests.map((r) => r.peer),
      [1, 2],
    );
  });

  check("a read-only request is repeated only once", async () => {
    const fake = await startFake(() => "close");
    const c = client(fake);
    await rejectsWith(c.listContainersBy([{ name: "***" }]), EError.SocketError);
    assert.equal(fake.count("ListContainersBy"), 2);
  });

  check("reconnects by itself after portod restarts, and is Unavailable while it is down", async () => {
    const fake = await startFake(() => ok({ version: { tag: "t", revision: "r" } }));
    const c = client(fake);
    await c.version();
    await fake.stop();
    const err = await rejectsWith(c.version(), EError.SocketUnavailable);
    assert.equal(toConnectError(err).code, Code.Unavailable);
    await fake.listen();
    assert.equal((await c.version()).tag, "t");
  });

  check("after `portod reload` drops connections, idle ones are replaced without failing calls", async () => {
    const fake = await startFake(() => ok());
    const c = client(fake);
    await Promise.all([c.start("a"), c.start("b")]);
    fake.dropAll();
    await until("drops seen", () => fake.closedConnections === 2);
    await sleep(5); // let the client see the close too
    await c.start("c"); // not read-only: it must not have been sent on a dead connection
    assert.equal(fake.count("start"), 3);
  });

  check("debug logs name the call, its time and code, never a pull's auth token", async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "debug" },
      new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const fake = await startFake((_req, method) =>
      method === "pullDockerImage"
        ? { error: EError.Docker, errorMsg: "auth failed for Bearer sekrit-token" }
        : ok(),
    );
    const c = client(fake, { logger });
    await c.start("a");
    await rejectsWith(c.pullDockerImage({ name: "r/x", authToken: "Bearer sekrit-token", platform: "linux/amd64" }), EError.Docker);
    const pull = fake.requests.at(-1)!.req.pullDockerImage!;
    assert.equal(pull.authToken, "Bearer sekrit-token");
    assert.equal(pull.platform, "linux/amd64");
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const start = entries.find((e) => e.method === "start");
    assert.ok(start && typeof start.ms === "number" && start.code === 0);
    const failed = entries.find((e) => e.method === "pullDockerImage");
    assert.ok(failed && failed.code === EError.Docker);
    assert.ok(!lines.join("\n").includes("sekrit"), "the auth token reached the log");
  });

  check("a session keeps one connection for weak containers, and says so when it is lost", async () => {
    const fake = await startFake(() => ok());
    const c = client(fake);
    const session = c.session();
    cleanups.push(() => session.close());
    await session.createWeak("exec-1");
    await session.start("exec-1");
    assert.deepEqual(
      fake.requests.map((r) => r.peer),
      [1, 1],
    );
    fake.dropAll();
    await until("session sees the drop", () => fake.closedConnections === 1);
    await sleep(5);
    const err = await rejectsWith(session.start("exec-1"), EError.SocketError);
    assert.match(err.portoMessage, /weak containers/);
    assert.equal(fake.connections, 1, "a session never reconnects silently");
  });
});

// ---------------------------------------------------------------- events

describe("events", () => {
  check("yields typed changes, re-registers after a drop and asks for a resync, stops on close", async () => {
    const fake = await startFake(() => ok());
    const sub = subscribe({ socketPath: fake.path, names: ["***"], labels: ["CRI.*"], reconnectDelayMs: 5 });
    const it = eventsOf(fake, sub);
    await sub.ready;
    const reg = fake.requests.find((r) => r.method === "AsyncWait")!.req.AsyncWait!;
    assert.deepEqual(reg.name, ["***"]);
    assert.deepEqual(reg.label, ["CRI.*"]);

    const peer = [...fake.peers][0];
    peer.event({ name: "pod/c", state: "dead", when: 1700000000n });
    peer.event({ name: "pod", state: "running", when: 1700000001n, label: "CRI.state", value: "ready" });
    assert.deepEqual(await take(it, 2), [
      { type: "change", name: "pod/c", state: "dead", when: 1700000000 },
      { type: "change", name: "pod", state: "running", when: 1700000001, label: "CRI.state", value: "ready" },
    ]);

    fake.dropAll();
    assert.deepEqual(await take(it, 1), [{ type: "resync", reason: "reconnect" }]);
    assert.equal(fake.count("AsyncWait"), 2);
    [...fake.peers][0].event({ name: "pod/d", state: "stopped", when: 5n });
    assert.deepEqual(await take(it, 1), [{ type: "change", name: "pod/d", state: "stopped", when: 5 }]);

    await sub.close();
    assert.equal(fake.count("StopAsyncWait"), 1);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
    await until("connection closed", () => fake.peers.size === 0);
  });

  check("keeps trying while portod is down and resyncs once it is back", async () => {
    const fake = await startFake(() => ok());
    const sub = subscribe({ socketPath: fake.path, names: ["***"], reconnectDelayMs: 5, maxReconnectDelayMs: 10 });
    const it = eventsOf(fake, sub);
    await sub.ready;
    await fake.stop();
    await sleep(30);
    await fake.listen();
    assert.deepEqual(await take(it, 1), [{ type: "resync", reason: "reconnect" }]);
  });

  check("a refused registration rejects ready and ends the iteration with the error", async () => {
    const fake = await startFake(() => ({ error: EError.InvalidValue, errorMsg: "bad name" }));
    const sub = subscribe({ socketPath: fake.path, names: ["bad name"] });
    const it = eventsOf(fake, sub);
    await rejectsWith(sub.ready, EError.InvalidValue);
    await rejectsWith(it.next(), EError.InvalidValue);
  });

  check("a one-shot targetState subscription ends after its event, even one sent before the reply", async () => {
    const fake = await startFake((_req, method, peer) => {
      if (method === "AsyncWait") peer.event({ name: "a", state: "dead", when: 3n });
      return ok();
    });
    const sub = subscribe({ socketPath: fake.path, names: ["a"], targetState: "dead" });
    const it = eventsOf(fake, sub);
    assert.equal(fake.requests.length, 0);
    assert.deepEqual(await take(it, 5), [{ type: "change", name: "a", state: "dead", when: 3 }]);
    await sub.ready;
    assert.equal(fake.requests[0].req.AsyncWait?.targetState, "dead");
  });

  check("portod's timeout report ends the subscription", async () => {
    const fake = await startFake((req, method, peer) => {
      if (method === "AsyncWait") setTimeout(() => peer.event({ name: "", state: "timeout" }), req.AsyncWait!.timeoutMs);
      return ok();
    });
    const sub = subscribe({ socketPath: fake.path, names: ["a"], timeoutMs: 10 });
    const it = eventsOf(fake, sub);
    assert.deepEqual(await take(it, 5), [{ type: "timeout" }]);
    const sent = fake.requests[0].req.AsyncWait!.timeoutMs;
    assert.ok(sent > 0 && sent <= 10);
  });

  check("a consumer that falls behind gets one resync instead of unbounded memory", async () => {
    const fake = await startFake(() => ok());
    const sub = subscribe({ socketPath: fake.path, names: ["***"], maxBuffered: 3 });
    const it = eventsOf(fake, sub);
    await sub.ready;
    const peer = [...fake.peers][0];
    for (let i = 0; i < 5; i++) peer.event({ name: `c${i}`, state: "dead", when: BigInt(i) });
    peer.event({ name: "last", state: "dead", when: 9n });
    await sleep(20);
    // c0..c2 fill the buffer, c3 replaces them with a resync, c4 fills it again, "last" replaces again.
    assert.deepEqual(await take(it, 2), [
      { type: "resync", reason: "overflow" },
      { type: "change", name: "last", state: "dead", when: 9 },
    ]);
  });

  check("the client's subscribe uses its socket, and for-await break closes the subscription", async () => {
    const fake = await startFake((_req, method, peer) => {
      if (method === "AsyncWait") setTimeout(() => peer.event({ name: "a", state: "running", when: 1n }), 1);
      return ok();
    });
    const c = client(fake);
    const seen: string[] = [];
    for await (const ev of c.subscribe({ names: ["a"] })) {
      if (ev.type === "change") seen.push(ev.state);
      break;
    }
    assert.deepEqual(seen, ["running"]);
    assert.equal(fake.count("StopAsyncWait"), 1);
  });
});
