/**
 * Exec and attach sessions (kubelet's remotecommand server): which streams a
 * client opens, how terminal sizes arrive, how the outcome is reported, for
 * every protocol version.
 *
 * SPDY (X-Stream-Protocol-Version): `v4.channel.k8s.io`, `v3.channel.k8s.io`,
 * `v2.channel.k8s.io`, `channel.k8s.io` (v1). The client opens one stream per
 * stdio it wants plus `error`, and `resize` with a tty from v3 on; each is
 * answered at once, and the session starts when all expected ones are there.
 * v1 resets its error stream right after set-up, as Kubernetes 1.0 did (so v1
 * clients never see errors); v4 writes a JSON Status with the exit code.
 *
 * WebSocket (Sec-WebSocket-Protocol): `v5.channel.k8s.io`,
 * `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`, `channel.k8s.io`,
 * `base64.channel.k8s.io` and none at all (= binary). Channels 0-4 are stdin,
 * stdout, stderr, error, resize; an empty message on the lowest writable
 * channel tells the client the session is ready; v5 lets the client
 * half-close stdin.
 */
import { once } from "node:events";
import { PassThrough } from "node:stream";
import type { Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";
import type { SpdyConnection, SpdyStream } from "./spdy/connection.js";
import { RstStatus } from "./spdy/frames.js";
import { WsChannels } from "./ws-channels.js";
import { encodeOutcome } from "./status.js";
import type { CommandOutcome } from "./status.js";
import type { TerminalSize } from "./exec-backend.js";

export const SPDY_V1 = "channel.k8s.io";
export const SPDY_V2 = "v2.channel.k8s.io";
export const SPDY_V3 = "v3.channel.k8s.io";
export const SPDY_V4 = "v4.channel.k8s.io";
/** Server preference order, as kubelet lists them. */
export const SPDY_REMOTE_COMMAND_PROTOCOLS = [SPDY_V4, SPDY_V3, SPDY_V2, SPDY_V1] as const;

export const WS_V5 = "v5.channel.k8s.io";
export const WS_V4 = "v4.channel.k8s.io";
export const WS_V4_BASE64 = "v4.base64.channel.k8s.io";
export const WS_V1 = "channel.k8s.io";
export const WS_V1_BASE64 = "base64.channel.k8s.io";
export const WS_REMOTE_COMMAND_PROTOCOLS = [WS_V5, WS_V4, WS_V4_BASE64, WS_V1, WS_V1_BASE64, ""] as const;

/** Streams a session asks for (from the CRI request, never from the URL). */
export interface RemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** A session whose streams are all there. */
export interface RemoteCommandSession {
  protocol: string;
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: AsyncIterable<TerminalSize>;
  /** Aborts when the client goes away. */
  gone: AbortSignal;
  /** Reports the outcome on the error stream and closes the session. */
  finish(outcome: CommandOutcome): Promise<void>;
}

/** kubelet's stream creation timeout. */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** Decodes the JSON objects (`{"Width":80,"Height":24}`) a resize stream carries, one after another. */
export async function* terminalSizes(source: Readable): AsyncGenerator<TerminalSize> {
  let text = "";
  for await (const chunk of source) {
    text += (chunk as Buffer).toString("utf8");
    for (;;) {
      const end = jsonObjectEnd(text);
      if (end < 0) break;
      const piece = text.slice(0, end);
      text = text.slice(end);
      try {
        const v = JSON.parse(piece) as { Width?: unknown; Height?: unknown };
        const width = Number(v.Width ?? 0);
        const height = Number(v.Height ?? 0);
        if (Number.isFinite(width) && Number.isFinite(height)) yield { width, height };
      } catch {
        return; // kubelet stops reading the resize stream at the first bad object
      }
    }
  }
}

/** Index just past the first complete top-level JSON object in `s`, or -1. */
function jsonObjectEnd(s: string): number {
  let depth = 0;
  let inString = false;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{") {
      depth++;
      started = true;
    } else if (c === "}") {
      depth--;
      if (started && depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Waits for the client's streams on an upgraded SPDY connection. Resolves
 * with the session, or undefined (connection closed) when they do not all
 * arrive in time.
 */
export async function spdyRemoteCommand(
  conn: SpdyConnection,
  protocol: string,
  opts: RemoteCommandOptions,
  timeoutMs = STREAM_CREATION_TIMEOUT_MS,
): Promise<RemoteCommandSession | undefined> {
  const version = protocol === SPDY_V4 ? 4 : protocol === SPDY_V3 ? 3 : protocol === SPDY_V2 ? 2 : 1;
  const resizable = version >= 3;
  let expected = 1 + (opts.stdin ? 1 : 0) + (opts.stdout ? 1 : 0) + (opts.stderr && !opts.tty ? 1 : 0);
  if (opts.tty && resizable) expected++;

  const gone = new AbortController();
  conn.once("close", () => gone.abort());
  const got: Partial<Record<"error" | "stdin" | "stdout" | "stderr" | "resize", SpdyStream>> = {};
  let received = 0;

  const ready = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
    conn.once("close", () => {
      clearTimeout(timer);
      resolve(false);
    });
    conn.on("stream", (stream) => {
      const type = stream.header("streamtype");
      if (type !== "error" && type !== "stdin" && type !== "stdout" && type !== "stderr" && type !== "resize") {
        stream.reset(RstStatus.RefusedStream);
        return;
      }
      if (type === "resize" && !resizable) {
        stream.reset(RstStatus.RefusedStream);
        return;
      }
      got[type] = stream;
      stream.reply();
      if (type !== "stdin" && type !== "resize") stream.resume(); // nothing comes in on output streams
      received++;
      if (received === expected) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
  if (!(await ready)) {
    conn.destroy();
    return undefined;
  }
  conn.removeAllListeners("stream");
  conn.on("stream", (stream) => stream.reset(RstStatus.RefusedStream));

  const errorStream = got.error;
  if (version === 1 && errorStream) {
    // Kubernetes 1.0 reset the error stream once the streams were set up; v1 keeps that.
    errorStream.reset(RstStatus.Cancel);
  }
  if (version === 1) got.stdin?.end(); // v1 also closed its (unused) write side of stdin
  return {
    protocol,
    stdin: got.stdin,
    stdout: got.stdout,
    stderr: opts.tty ? undefined : got.stderr,
    resize: got.resize ? terminalSizes(got.resize) : undefined,
    gone: gone.signal,
    async finish(outcome) {
      await Promise.all([endWritable(got.stdout), endWritable(got.stderr)]);
      if (errorStream && !errorStream.aborted && !errorStream.destroyed) {
        const bytes = encodeOutcome(outcome, version >= 4);
        if (bytes.length > 0) errorStream.write(bytes);
        await endWritable(errorStream);
      }
      got.stdin?.destroy();
      got.resize?.destroy();
      conn.close();
    },
  };
}

/** Sets up channels on an accepted WebSocket. */
export function wsRemoteCommand(ws: WebSocket, protocol: string, opts: RemoteCommandOptions): RemoteCommandSession {
  const base64 = protocol.includes("base64");
  const stdout = opts.stdout;
  const stderr = opts.stderr && !opts.tty;
  const channels = new WsChannels(ws, {
    base64,
    closeSignal: protocol === WS_V5,
    modes: [opts.stdin ? "read" : "ignore", stdout ? "write" : "ignore", stderr ? "write" : "ignore", "write", "read"],
  });
  const gone = new AbortController();
  ws.once("close", () => gone.abort());
  // The empty message on the lowest writable channel says "ready".
  channels.send(stdout ? 1 : stderr ? 2 : 3, Buffer.alloc(0));
  const resize = channels.readers[4]!;
  const jsonStatus = protocol === WS_V5 || protocol === WS_V4 || protocol === WS_V4_BASE64;
  return {
    protocol,
    stdin: opts.stdin ? channels.readers[0] : undefined,
    stdout: stdout ? channels.writers[1] : undefined,
    stderr: stderr ? channels.writers[2] : undefined,
    resize: opts.tty ? terminalSizes(resize) : undefined,
    gone: gone.signal,
    async finish(outcome) {
      if (!opts.tty) resize.resume();
      await Promise.all([endWritable(channels.writers[1]), endWritable(channels.writers[2])]);
      const bytes = encodeOutcome(outcome, jsonStatus);
      if (bytes.length > 0 && ws.readyState === ws.OPEN) {
        await new Promise<void>((resolve) => channels.send(3, bytes, () => resolve()));
      }
      channels.close();
    },
  };
}

/** Ends a writable and waits until it has flushed (or failed); undefined is done already. */
export async function endWritable(w: Writable | undefined): Promise<void> {
  if (!w || w.writableFinished || w.destroyed) return;
  if (!w.writableEnded) w.end();
  await Promise.race([once(w, "finish"), once(w, "close"), once(w, "error")]).catch(() => undefined);
}

/** A Readable that never yields, for a stdin the client did not ask for. */
export function emptyReadable(): Readable {
  const p = new PassThrough();
  p.end();
  return p;
}
