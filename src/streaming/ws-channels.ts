/**
 * Kubernetes' channel protocols over one WebSocket (apimachinery wsstream):
 * every message starts with its channel number, a byte in the binary
 * protocols (`channel.k8s.io`, `v4.channel.k8s.io`, `v5.channel.k8s.io`) and
 * an ASCII digit followed by base64 in the `base64.*` ones. v5 adds the close
 * signal: the message [255, n] half-closes channel n from the client.
 *
 * Channels are plain Node streams: a read channel is a Readable of what the
 * client sent on it, a write channel a Writable whose chunks become messages.
 */
import { Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";

/** Channel number reserved for the v5 close signal. */
export const CLOSE_SIGNAL = 255;

export type ChannelMode = "read" | "write" | "readwrite" | "ignore";

export interface ChannelConfig {
  /** base64.* protocols: text messages, '0'+channel, base64 payload. */
  base64: boolean;
  /** v5.channel.k8s.io: honour [255, n] as a half-close of channel n. */
  closeSignal: boolean;
  /** Mode of channel i. */
  modes: ChannelMode[];
}

const READ_HIGH_WATER = 1 << 20;
const WRITE_HIGH_WATER = 1 << 20;

export class WsChannels {
  readonly readers: (Readable | undefined)[] = [];
  readonly writers: (Writable | undefined)[] = [];
  private readonly full = new Set<number>();

  constructor(
    readonly ws: WebSocket,
    private readonly config: ChannelConfig,
  ) {
    config.modes.forEach((mode, i) => {
      if (mode === "read" || mode === "readwrite") {
        this.readers[i] = new Readable({
          highWaterMark: READ_HIGH_WATER,
          read: () => {
            if (this.full.delete(i) && this.full.size === 0) ws.resume();
          },
        });
      }
      if (mode === "write" || mode === "readwrite") this.writers[i] = this.writer(i);
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on("close", () => this.endAll());
    ws.on("error", () => this.endAll());
  }

  /** Sends one message on channel `n` (an empty one tells the client the session is ready). */
  send(n: number, data: Buffer, cb?: (err?: Error) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb?.(new Error("WebSocket closed"));
      return;
    }
    if (this.config.base64) {
      this.ws.send(String.fromCharCode(48 + n) + data.toString("base64"), { binary: false }, cb);
    } else {
      const frame = Buffer.allocUnsafe(data.length + 1);
      frame[0] = n;
      data.copy(frame, 1);
      this.ws.send(frame, { binary: true }, cb);
    }
  }

  /** Closes the WebSocket normally once queued messages are out. */
  close(): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000);
    this.endAll();
  }

  private writer(n: number): Writable {
    // Once the WebSocket is gone writes are dropped, not errors: the session
    // learns of the end through the socket's close and stops on its own.
    // While little is queued in ws the next chunk may come at once; past
    // WRITE_HIGH_WATER the writer waits until this message is on the socket.
    let lastSent: Promise<void> = Promise.resolve();
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        let called = false;
        const done = () => {
          if (!called) {
            called = true;
            cb();
          }
        };
        lastSent = new Promise((resolve) =>
          this.send(n, chunk, () => {
            done();
            resolve();
          }),
        );
        if (this.ws.bufferedAmount < WRITE_HIGH_WATER) done();
      },
      // Finished only once everything is on the socket (ws calls back in order).
      final: (cb) => void lastSent.then(() => cb()),
    });
  }

  private onMessage(raw: Buffer, isBinary: boolean): void {
    let data = raw;
    if (data.length === 0) return;
    if (this.config.closeSignal && data[0] === CLOSE_SIGNAL) {
      // [255, n]: the client is done sending on channel n.
      if (data.length === 2) this.endReader(data[1]);
      return;
    }
    let n: number;
    if (this.config.base64 && !isBinary) {
      n = data[0] - 48;
      data = Buffer.from(data.toString("latin1", 1), "base64");
    } else {
      n = data[0];
      data = data.subarray(1);
    }
    const reader = this.readers[n];
    if (!reader || reader.readableEnded || data.length === 0) return;
    if (!reader.push(data)) {
      this.full.add(n);
      this.ws.pause();
    }
  }

  private endReader(n: number): void {
    const reader = this.readers[n];
    if (reader && !reader.readableEnded) reader.push(null);
    if (this.full.delete(n) && this.full.size === 0) this.ws.resume();
  }

  private endAll(): void {
    this.readers.forEach((_, n) => this.endReader(n));
  }
}

/**
 * Picks the subprotocol as apimachinery's wsstream does: the first one the
 * client lists that the server supports; "" when the client lists none and ""
 * (raw binary) is supported. Undefined when nothing fits.
 */
export function negotiateWsProtocol(requested: string[], supported: readonly string[]): string | undefined {
  const list = requested.length === 0 ? [""] : requested;
  return list.find((p) => supported.includes(p));
}

/** The comma-separated Sec-WebSocket-Protocol header as a list. */
export function parseWsProtocols(header: string | string[] | undefined): string[] {
  const joined = Array.isArray(header) ? header.join(",") : (header ?? "");
  return joined
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}
