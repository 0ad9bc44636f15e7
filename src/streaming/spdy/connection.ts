/**
 * The server side of a SPDY/3.1 connection, as kubelet's streaming clients
 * use it: the client opens every stream (SYN_STREAM with a `streamtype`
 * header), the server answers each with SYN_REPLY or RST_STREAM, both sides
 * send DATA and half-close with FIN, and either side may RST a stream.
 *
 * Why our own: no SPDY server for Node is maintained. spdy-transport, the
 * one that exists, last released in 2018 and needs four fixes reaching into
 * its private state before client-go can talk to it (SYN_STREAMs without
 * :method/:path, flow-control windows client-go never replenishes, replies
 * ordered after DATA, a stream iterator that never ends). The subset kubelet
 * needs is small: this file plus frames.ts and header-block.ts.
 *
 * Flow control as client-go really behaves: moby/spdystream ignores
 * WINDOW_UPDATE and never sends one, so nothing here waits for a send
 * window (a server that honoured the 64 KiB initial window would stall every
 * exec after 64 KiB). Back-pressure is TCP's: DATA is written only as fast as
 * the socket drains, and the socket stops being read while a stream's reader
 * is full (spdystream does the same by blocking its frame reader). For peers
 * that do count windows we still return every received byte with
 * WINDOW_UPDATE, on the stream and on the connection (SPDY/3.1), so they never
 * stall either.
 */
import { EventEmitter } from "node:events";
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import {
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameParser,
  GoAwayStatus,
  RstStatus,
  SpdyProtocolError,
  dataFrameHead,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeWindowUpdate,
} from "./frames.js";
import type { Frame } from "./frames.js";
import { HeaderBlockDecoder, HeaderBlockEncoder } from "./header-block.js";
import type { SpdyHeaders } from "./header-block.js";

/** Largest DATA payload we send in one frame. */
const MAX_DATA_FRAME = 1 << 20;
/** Bytes a stream buffers for its reader before the socket stops being read. */
const STREAM_HIGH_WATER = 1 << 20;

export interface SpdyConnectionEvents {
  /** A new stream from the peer, headers decoded; answer it with reply() or reset(). */
  stream: [SpdyStream];
  /** The peer sent GOAWAY: it opens no more streams. */
  goaway: [];
  /** The connection is gone; every stream has been destroyed. */
  close: [Error | undefined];
}

/** One SPDY connection over an upgraded socket, server side. */
export class SpdyConnection extends EventEmitter<SpdyConnectionEvents> {
  private readonly parser = new FrameParser();
  private readonly decoder = new HeaderBlockDecoder();
  private readonly encoder = new HeaderBlockEncoder();
  private readonly streams = new Map<number, SpdyStream>();
  /** Frames waiting behind a header block being inflated. */
  private readonly queue: Frame[] = [];
  private decoding = false;
  private lastStreamId = 0;
  private readonly fullStreams = new Set<SpdyStream>();
  private readonly drainWaiters: (() => void)[] = [];
  private closedWith: Error | undefined | null = null;
  goneAway = false;

  constructor(
    readonly socket: Socket,
    head?: Buffer,
  ) {
    super();
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.flushDrainWaiters());
    socket.on("end", () => this.teardown(undefined));
    socket.on("error", (err) => this.teardown(err));
    socket.on("close", () => this.teardown(undefined));
    if (head && head.length > 0) queueMicrotask(() => this.onData(head));
  }

  /** True once the socket is gone. */
  get closed(): boolean {
    return this.closedWith !== null;
  }

  /** Ends the connection after what is queued: GOAWAY, then the socket's FIN. */
  close(): void {
    if (this.closed) return;
    this.write(encodeGoAway(this.lastStreamId, GoAwayStatus.Ok));
    this.socket.end();
    this.teardown(undefined);
  }

  /** Drops the connection at once. */
  destroy(err?: Error): void {
    this.socket.destroy();
    this.teardown(err);
  }

  /** Writes raw frame bytes; false when the socket is full. */
  write(...buffers: Buffer[]): boolean {
    if (this.closed || this.socket.destroyed) return true;
    if (buffers.length === 1) return this.socket.write(buffers[0]);
    this.socket.cork();
    let ok = true;
    for (const b of buffers) ok = this.socket.write(b);
    this.socket.uncork();
    return ok;
  }

  /** Calls `fn` when the socket drains (or at once when it is closed). */
  whenDrained(fn: () => void): void {
    if (this.closed) return fn();
    this.drainWaiters.push(fn);
  }

  encodeHeaders(headers: SpdyHeaders): Buffer {
    return this.encoder.encode(headers);
  }

  /** A stream stops being tracked once both halves are closed or it was reset. */
  forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.unblock(stream);
  }

  /** The stream's reader is full: stop reading the socket. */
  block(stream: SpdyStream): void {
    this.fullStreams.add(stream);
    this.socket.pause();
  }

  /** The stream wants more: read the socket again when no other stream is full. */
  unblock(stream: SpdyStream): void {
    if (this.fullStreams.delete(stream) && this.fullStreams.size === 0 && !this.closed) this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (err) {
      this.protocolError(err as Error);
      return;
    }
    this.queue.push(...frames);
    this.pump();
  }

  /** Handles queued frames in order, pausing behind header blocks (they inflate asynchronously). */
  private pump(): void {
    while (!this.decoding && this.queue.length > 0 && !this.closed) {
      const frame = this.queue.shift()!;
      if (frame.type === "syn_stream" || frame.type === "syn_reply" || frame.type === "headers") {
        this.decoding = true;
        this.decoder.decode(frame.headerBlock).then(
          (headers) => {
            this.decoding = false;
            if (frame.type === "syn_stream") this.onSynStream(frame, headers);
            else if (frame.type === "headers" && frame.flags & FLAG_FIN) this.streams.get(frame.streamId)?.remoteFin();
            this.pump();
          },
          (err: Error) => {
            this.decoding = false;
            this.protocolError(err);
          },
        );
        return;
      }
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case "data": {
        const stream = this.streams.get(frame.streamId);
        if (!stream) {
          this.write(encodeRstStream(frame.streamId, RstStatus.InvalidStream));
          return;
        }
        if (frame.data.length > 0) {
          this.write(encodeWindowUpdate(frame.streamId, frame.data.length), encodeWindowUpdate(0, frame.data.length));
        }
        stream.remoteData(frame.data, (frame.flags & FLAG_FIN) !== 0);
        return;
      }
      case "rst_stream":
        this.streams.get(frame.streamId)?.remoteReset(frame.status);
        return;
      case "ping":
        // Echo the peer's pings (odd ids); we send none of our own.
        if (frame.id % 2 === 1) this.write(encodePing(frame.id));
        return;
      case "goaway":
        this.goneAway = true;
        this.emit("goaway");
        return;
      case "settings":
      case "window_update":
      case "unknown":
        return;
    }
  }

  private onSynStream(frame: Extract<Frame, { type: "syn_stream" }>, headers: SpdyHeaders): void {
    const id = frame.streamId;
    if (this.goneAway) {
      this.write(encodeRstStream(id, RstStatus.RefusedStream));
      return;
    }
    if (id % 2 === 0 || id <= this.lastStreamId) {
      // Client streams are odd and increasing (SPDY/3 2.3.2).
      this.write(encodeRstStream(id, this.streams.has(id) ? RstStatus.StreamInUse : RstStatus.ProtocolError));
      return;
    }
    this.lastStreamId = id;
    const stream = new SpdyStream(this, id, headers, (frame.flags & FLAG_UNIDIRECTIONAL) !== 0);
    this.streams.set(id, stream);
    if (frame.flags & FLAG_FIN) stream.remoteFin();
    this.emit("stream", stream);
  }

  private protocolError(err: Error): void {
    if (this.closed) return;
    this.write(encodeGoAway(this.lastStreamId, GoAwayStatus.ProtocolError));
    this.socket.end();
    this.teardown(err instanceof SpdyProtocolError ? err : new SpdyProtocolError(err.message));
  }

  private flushDrainWaiters(): void {
    const waiters = this.drainWaiters.splice(0);
    for (const fn of waiters) fn();
  }

  private teardown(err: Error | undefined): void {
    if (this.closed) return;
    this.closedWith = err;
    this.decoder.close();
    for (const stream of [...this.streams.values()]) stream.connectionClosed();
    this.streams.clear();
    this.fullStreams.clear();
    this.flushDrainWaiters();
    if (!this.socket.destroyed && this.socket.writableEnded) {
      // Give our final frames a moment to leave, then make sure the socket goes.
      setTimeout(() => this.socket.destroy(), 5_000).unref();
    } else if (!this.socket.writableEnded) {
      this.socket.destroy();
    }
    this.emit("close", err);
  }
}

/**
 * One stream: a Duplex whose writes become DATA frames and whose end is a
 * FIN. `reply()` must come first (client-go waits for it before it opens its
 * next stream).
 */
export class SpdyStream extends Duplex {
  private replied = false;
  private localClosed = false;
  private remoteClosed = false;
  /** The peer reset the stream, or the connection went away. */
  aborted = false;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    readonly headers: SpdyHeaders,
    unidirectional: boolean,
  ) {
    super({ readableHighWaterMark: STREAM_HIGH_WATER, allowHalfOpen: true });
    if (unidirectional) this.localClosed = true;
  }

  /** The value of one header (lower-case name), or "" when absent. */
  header(name: string): string {
    return this.headers[name] ?? "";
  }

  /** Accepts the stream (SYN_REPLY); with `fin`, nothing will be written on it. */
  reply(headers: SpdyHeaders = {}, fin = false): void {
    if (this.replied || this.aborted) return;
    this.replied = true;
    this.conn.write(encodeSynReply(this.id, fin ? FLAG_FIN : 0, this.conn.encodeHeaders(headers)));
    if (fin) this.closeLocal();
  }

  /** Refuses or abandons the stream (RST_STREAM); reading and writing end. */
  reset(status: number = RstStatus.Cancel): void {
    if (this.aborted) return;
    this.aborted = true;
    this.conn.write(encodeRstStream(this.id, status));
    this.conn.forget(this);
    this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // Writes after a reset or a lost connection are dropped, not errors: the
    // session learns of the end through `close` and stops on its own.
    if (this.aborted || this.conn.closed || this.localClosed) return cb();
    if (!this.replied) this.reply();
    let ok = true;
    for (let o = 0; o < chunk.length; o += MAX_DATA_FRAME) {
      const piece = chunk.subarray(o, Math.min(chunk.length, o + MAX_DATA_FRAME));
      ok = this.conn.write(dataFrameHead(this.id, 0, piece.length), piece);
    }
    if (ok) cb();
    else this.conn.whenDrained(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.aborted && !this.conn.closed && !this.localClosed) {
      if (!this.replied) this.reply();
      this.conn.write(dataFrameHead(this.id, FLAG_FIN, 0));
    }
    this.closeLocal();
    cb();
  }

  override _read(): void {
    this.conn.unblock(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A stream dropped by its user before both halves closed is reset, so the peer stops too.
    if (!this.aborted && !this.conn.closed && !(this.localClosed && this.remoteClosed)) {
      this.aborted = true;
      this.conn.write(encodeRstStream(this.id, RstStatus.Cancel));
    }
    this.conn.forget(this);
    cb(err);
  }

  /** DATA from the peer. */
  remoteData(data: Buffer, fin: boolean): void {
    if (this.remoteClosed || this.aborted) return;
    if (data.length > 0 && !this.push(data)) this.conn.block(this);
    if (fin) this.remoteFin();
  }

  /** The peer half-closed. */
  remoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    if (this.localClosed) this.conn.forget(this);
  }

  remoteReset(_status: number): void {
    if (this.aborted) return;
    this.aborted = true;
    this.conn.forget(this);
    this.destroy();
  }

  connectionClosed(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.destroy();
  }

  private closeLocal(): void {
    this.localClosed = true;
    if (this.remoteClosed) this.conn.forget(this);
  }
}
