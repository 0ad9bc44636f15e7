/**
 * A SPDY/3.1 client as client-go/moby spdystream behaves: HTTP upgrade with
 * X-Stream-Protocol-Version headers, streams opened one after another (each
 * waits for its SYN_REPLY), header blocks compressed with real zlib and the
 * SPDY dictionary, no flow control. Enough to drive the streaming server the
 * way kubectl and crictl do.
 */
import { connect } from "node:net";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { createDeflate, createInflate, constants as zlibConstants } from "node:zlib";
import type { Deflate, Inflate } from "node:zlib";
import { SPDY3_DICTIONARY } from "../../src/streaming/spdy/dictionary.js";
import {
  FLAG_FIN,
  FrameParser,
  dataFrameHead,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynStream,
} from "../../src/streaming/spdy/frames.js";
import type { Frame } from "../../src/streaming/spdy/frames.js";
import { parseHeaders, serializeHeaders } from "../../src/streaming/spdy/header-block.js";
import type { SpdyHeaders } from "../../src/streaming/spdy/header-block.js";

export interface UpgradeResult {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  socket: Socket;
  rest: Buffer;
}

/** Sends an upgrade request and reads the response head (and, for a refusal, its body). */
export function upgradeRequest(url: string, headers: [string, string][], method = "POST"): Promise<UpgradeResult> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) });
    let buf = Buffer.alloc(0);
    socket.once("error", reject);
    socket.once("connect", () => {
      const lines = [`${method} ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
      socket.write(lines.join("\r\n") + "\r\n\r\n");
    });
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      const head = buf.subarray(0, end).toString().split("\r\n");
      const status = Number(head[0].split(" ")[1]);
      const hs: Record<string, string[]> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(":");
        const k = line.slice(0, i).trim().toLowerCase();
        (hs[k] ??= []).push(line.slice(i + 1).trim());
      }
      const rest = buf.subarray(end + 4);
      if (status === 101) {
        socket.pause();
        resolve({ status, headers: hs, body: "", socket, rest });
        return;
      }
      let body = rest;
      socket.on("data", (d2: Buffer) => (body = Buffer.concat([body, d2])));
      socket.once("close", () => resolve({ status, headers: hs, body: body.toString(), socket, rest: Buffer.alloc(0) }));
    };
    socket.on("data", onData);
  });
}

export class ClientStream extends Duplex {
  replied: Promise<SpdyHeaders>;
  resolveReply!: (h: SpdyHeaders) => void;
  rejectReply!: (e: Error) => void;
  reset = false;
  private finSent = false;

  constructor(
    private readonly client: SpdyClient,
    readonly id: number,
  ) {
    super({ allowHalfOpen: true });
    this.replied = new Promise((res, rej) => {
      this.resolveReply = res;
      this.rejectReply = rej;
    });
    this.replied.catch(() => undefined);
  }

  override _write(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.reset) return cb(new Error("stream reset"));
    const ok = this.client.write(Buffer.concat([dataFrameHead(this.id, 0, chunk.length), chunk]));
    if (ok) cb();
    else this.client.socket.once("drain", () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.reset && !this.finSent) {
      this.finSent = true;
      this.client.write(dataFrameHead(this.id, FLAG_FIN, 0));
    }
    cb();
  }

  override _read(): void {
    this.client.socket.resume();
  }

  /** Sends RST_STREAM. */
  rst(): void {
    this.reset = true;
    this.client.write(encodeRstStream(this.id, 5));
    this.destroy();
  }
}

export class SpdyClient {
  private readonly parser = new FrameParser();
  private readonly deflate: Deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
  private readonly inflate: Inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  private nextId = 1;
  private readonly streams = new Map<number, ClientStream>();
  private chain: Promise<void> = Promise.resolve();
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  goaway = false;

  constructor(
    readonly socket: Socket,
    rest: Buffer,
  ) {
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => undefined);
    socket.on("data", (d: Buffer) => this.onData(d));
    // After frames still being delivered (their delivery waits for header inflation).
    socket.on("close", () =>
      void this.chain.then(() => {
        for (const s of this.streams.values()) {
          s.rejectReply(new Error("connection closed"));
          if (!s.readableEnded) s.push(null);
        }
      }),
    );
    if (rest.length) this.onData(rest);
    socket.resume();
  }

  write(buf: Buffer): boolean {
    if (this.socket.destroyed) return true;
    return this.socket.write(buf);
  }

  /** Opens a stream and waits for the server's reply, as spdystream's CreateStream + Wait. */
  async createStream(headers: SpdyHeaders, waitReply = true): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const stream = new ClientStream(this, id);
    this.streams.set(id, stream);
    const block = await this.compress(headers);
    this.write(encodeSynStream(id, 0, block));
    if (waitReply) await stream.replied;
    return stream;
  }

  ping(id: number): void {
    this.write(encodePing(id));
  }

  close(): void {
    this.write(encodeGoAway(0, 0));
    this.socket.end();
  }

  private compress(headers: SpdyHeaders): Promise<Buffer> {
    const result = this.chain.then(
      () =>
        new Promise<Buffer>((resolve) => {
          const chunks: Buffer[] = [];
          const onData = (c: Buffer) => chunks.push(c);
          this.deflate.on("data", onData);
          this.deflate.write(serializeHeaders(headers));
          this.deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
            this.deflate.off("data", onData);
            resolve(Buffer.concat(chunks));
          });
        }),
    );
    this.chain = result.then(() => undefined);
    return result;
  }

  private inflateBlock(block: Buffer): Promise<SpdyHeaders> {
    const result = this.chain.then(
      () =>
        new Promise<SpdyHeaders>((resolve) => {
          const chunks: Buffer[] = [];
          const onData = (c: Buffer) => chunks.push(c);
          this.inflate.on("data", onData);
          this.inflate.write(block);
          this.inflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
            this.inflate.off("data", onData);
            resolve(parseHeaders(Buffer.concat(chunks)));
          });
        }),
    );
    this.chain = result.then(() => undefined);
    return result;
  }

  private onData(d: Buffer): void {
    for (const frame of this.parser.push(d)) {
      this.frames.push(frame);
      switch (frame.type) {
        case "syn_reply": {
          const s = this.streams.get(frame.streamId);
          void this.inflateBlock(frame.headerBlock).then((h) => {
            s?.resolveReply(h);
            if (frame.flags & FLAG_FIN && s && !s.readableEnded) s.push(null);
          });
          break;
        }
        case "data": {
          const s = this.streams.get(frame.streamId);
          if (!s) break;
          // Deliver after any pending reply inflation, keeping order.
          void this.chain.then(() => {
            if (s.readableEnded || s.destroyed) return;
            if (frame.data.length && !s.push(frame.data)) this.socket.pause();
            if (frame.flags & FLAG_FIN) s.push(null);
          });
          break;
        }
        case "rst_stream": {
          const s = this.streams.get(frame.streamId);
          if (!s) break;
          void this.chain.then(() => {
            s.reset = true;
            s.rejectReply(new Error("stream reset"));
            if (!s.readableEnded) s.push(null);
          });
          break;
        }
        case "goaway":
          this.goaway = true;
          break;
        default:
          break;
      }
    }
  }
}

/** Upgrades to SPDY with the given protocol versions and returns a client. */
export async function spdyConnect(url: string, protocols: string[]): Promise<{ client: SpdyClient; protocol: string }> {
  const headers: [string, string][] = [
    ["Connection", "Upgrade"],
    ["Upgrade", "SPDY/3.1"],
    ...protocols.map((p) => ["X-Stream-Protocol-Version", p] as [string, string]),
  ];
  const r = await upgradeRequest(url, headers);
  if (r.status !== 101) throw new Error(`upgrade refused: ${r.status} ${r.body}`);
  return { client: new SpdyClient(r.socket, r.rest), protocol: r.headers["x-stream-protocol-version"]?.[0] ?? "" };
}

/** Reads a readable to its end. */
export async function readAll(r: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export interface SpdyExecResult {
  stdout: Buffer;
  stderr: Buffer;
  error: string;
  protocol: string;
}

/**
 * Runs a remote command as client-go's streamers (v1-v4) do: error stream
 * first, then stdin, stdout, stderr, resize; copies `stdin` then half-closes;
 * reads outputs and the error stream to their ends.
 */
export async function spdyExec(
  url: string,
  opts: {
    protocols?: string[];
    stdin?: Buffer | NodeJS.ReadableStream;
    stdout?: boolean;
    stderr?: boolean;
    tty?: boolean;
    resize?: { Width: number; Height: number }[];
    /** Called once the streams exist, e.g. to go away mid-session. */
    onReady?: (client: SpdyClient, streams: Record<string, ClientStream>) => void;
  },
): Promise<SpdyExecResult> {
  const { client, protocol } = await spdyConnect(url, opts.protocols ?? ["v4.channel.k8s.io"]);
  const streams: Record<string, ClientStream> = {};
  streams.error = await client.createStream({ streamtype: "error" });
  if (opts.stdin !== undefined) streams.stdin = await client.createStream({ streamtype: "stdin" });
  if (opts.stdout !== false) streams.stdout = await client.createStream({ streamtype: "stdout" });
  if (opts.stderr && !opts.tty) streams.stderr = await client.createStream({ streamtype: "stderr" });
  if (opts.tty && protocol !== "channel.k8s.io" && protocol !== "v2.channel.k8s.io") {
    streams.resize = await client.createStream({ streamtype: "resize" });
    for (const r of opts.resize ?? []) streams.resize.write(JSON.stringify(r));
  }
  opts.onReady?.(client, streams);
  if (opts.stdin !== undefined) {
    const stdin = streams.stdin;
    if (Buffer.isBuffer(opts.stdin)) stdin.end(opts.stdin);
    else opts.stdin.pipe(stdin);
  }
  const [stdout, stderr, error] = await Promise.all([
    streams.stdout ? readAll(streams.stdout) : Buffer.alloc(0),
    streams.stderr ? readAll(streams.stderr) : Buffer.alloc(0),
    readAll(streams.error).catch(() => Buffer.alloc(0)),
  ]);
  client.close();
  return { stdout, stderr, error: error.toString(), protocol };
}
