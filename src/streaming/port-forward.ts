/**
 * Port-forward sessions (kubelet's portforward server).
 *
 * SPDY (`portforward.k8s.io`): for every forwarded TCP connection the client
 * opens a pair of streams, `error` and `data`, with the same `requestid` and
 * `port` headers. Each complete pair is one connection into the pod; a failure
 * (port closed, ...) is written as text on that pair's error stream and both
 * streams are closed, while the session and its other pairs go on. A stream
 * without a valid port or type is reset; a pair not completed within the
 * stream creation timeout gets an error.
 *
 * WebSocket (`v4.channel.k8s.io`, `v4.base64.channel.k8s.io` or none): the
 * ports are fixed for the session (from the CRI request; from the URL's `port`
 * parameters when the request named none, as kubelet fills the request from
 * them anyway). Port i has channels 2i (data, both ways) and 2i+1 (error);
 * each starts with the port as a little-endian uint16. One connection per
 * port; the WebSocket closes when all of them are done.
 */
import { Duplex } from "node:stream";
import type { Readable, Writable } from "node:stream";
import type { WebSocket } from "ws";
import type { SpdyConnection, SpdyStream } from "./spdy/connection.js";
import { RstStatus } from "./spdy/frames.js";
import { WsChannels } from "./ws-channels.js";
import { STREAM_CREATION_TIMEOUT_MS, endWritable } from "./remote-command.js";

export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
export const SPDY_PORT_FORWARD_PROTOCOLS = [PORT_FORWARD_PROTOCOL] as const;
export const WS_PORT_FORWARD_PROTOCOLS = ["v4.channel.k8s.io", "v4.base64.channel.k8s.io", ""] as const;

/** Connects one forwarded connection; rejects with the message the client should see. */
export type Forward = (port: number, data: Duplex) => Promise<void>;

/** Parses a port header or parameter: 1-65535, else undefined. */
export function parsePort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const port = Number(s);
  return port >= 1 && port <= 65535 ? port : undefined;
}

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Serves port forwarding on an upgraded SPDY connection until it closes. */
export function spdyPortForward(
  conn: SpdyConnection,
  forward: Forward,
  describe: (port: number) => string,
  timeoutMs = STREAM_CREATION_TIMEOUT_MS,
): Promise<void> {
  const pairs = new Map<string, Pair>();
  conn.on("stream", (stream) => {
    const port = parsePort(stream.header("port"));
    const type = stream.header("streamtype");
    if (port === undefined || (type !== "data" && type !== "error")) {
      stream.reset(RstStatus.RefusedStream);
      return;
    }
    let requestId = stream.header("requestid");
    if (requestId === "") {
      // Clients older than the header pair streams by id: error n, data n+2 (kubelet does the same).
      requestId = String(type === "error" ? stream.id : stream.id - 2);
    }
    let pair = pairs.get(requestId);
    if (!pair) {
      const p: Pair = {
        timer: setTimeout(() => {
          pairs.delete(requestId);
          if (p.error) {
            p.error.end(`timed out waiting for the streams of request ${requestId}`);
          }
          p.data?.reset(RstStatus.Cancel);
        }, timeoutMs),
      };
      p.timer.unref();
      pair = p;
      pairs.set(requestId, pair);
    }
    if (pair[type]) {
      stream.reply();
      stream.end(`error processing stream for request ${requestId}: ${type} stream already assigned`);
      return;
    }
    pair[type] = stream;
    stream.reply();
    if (type === "error") stream.resume();
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      void runPair(pair.data, pair.error, port, forward, describe);
    }
  });
  return new Promise((resolve) =>
    conn.once("close", () => {
      for (const p of pairs.values()) clearTimeout(p.timer);
      resolve();
    }),
  );
}

async function runPair(
  data: SpdyStream,
  error: Writable,
  port: number,
  forward: Forward,
  describe: (port: number) => string,
): Promise<void> {
  try {
    await forward(port, data);
  } catch (err) {
    if (!error.destroyed) error.write(`error forwarding port ${port} to ${describe(port)}: ${(err as Error).message}`);
  }
  await Promise.all([endWritable(data), endWritable(error)]);
}

/** Serves port forwarding on an accepted WebSocket for `ports`. */
export async function wsPortForward(
  ws: WebSocket,
  protocol: string,
  ports: number[],
  forward: Forward,
  describe: (port: number) => string,
): Promise<void> {
  const channels = new WsChannels(ws, {
    base64: protocol.includes("base64"),
    closeSignal: false,
    modes: ports.flatMap(() => ["readwrite", "write"] as const),
  });
  const runs = ports.map(async (port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    channels.send(2 * i, prefix);
    channels.send(2 * i + 1, prefix);
    const data = duplexOf(channels.readers[2 * i]!, channels.writers[2 * i]!);
    const error = channels.writers[2 * i + 1]!;
    try {
      await forward(port, data);
    } catch (err) {
      error.write(`error forwarding port ${port} to ${describe(port)}: ${(err as Error).message}`);
    }
    await endWritable(error);
  });
  await Promise.all(runs);
  channels.close();
}

/** Joins a channel's two directions into the Duplex a forward takes. */
function duplexOf(readable: Readable, writable: Writable): Duplex {
  const d = new Duplex({
    read() {
      readable.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      writable.write(chunk, (err) => cb(err ?? null));
    },
    final(cb) {
      // A WebSocket channel has no half-close towards the client; the session's end closes it.
      cb();
    },
  });
  readable.on("data", (chunk: Buffer) => {
    if (!d.push(chunk)) readable.pause();
  });
  readable.on("end", () => d.push(null));
  return d;
}
