/**
 * A unix-socket proxy in front of portod (or the double) that a test can
 * misbehave with: drop the AsyncWait connection or every connection, refuse
 * new ones as a restarting portod does, lose pushed events, and hold replies
 * back. The shim sees only portod's wire protocol going wrong, as in
 * production; portod's own state (the double's) is untouched, as after a real
 * portod restart, which restores its containers.
 *
 * It reads both directions frame by frame (varint length + protobuf), so it
 * also counts the shim's requests by method.
 */
import { createServer, connect } from "node:net";
import type { Server, Socket } from "node:net";
import { rmSync } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";
import { TContainerRequestSchema, TContainerResponseSchema } from "../../gen/rpc_pb.js";
import { FrameReader, frame } from "../../src/porto/framing.js";
import { requestMethod } from "../../src/porto/request.js";

export interface PortoProxy {
  readonly socketPath: string;
  /** Requests the shim sent, by method. */
  readonly requests: Map<string, number>;
  /** All requests the shim sent. */
  readonly requestCount: number;
  /** Drops AsyncWait pushes (not replies): portod's changes go unseen, the connection stays up. */
  deaf: boolean;
  /** Refuses every new AsyncWait registration (the connection is dropped once it asks). */
  refuseEvents: boolean;
  /** Holds portod's replies on ordinary (non-AsyncWait) connections until release(). */
  hold: boolean;
  /** Replies held back so far. */
  readonly held: number;
  /** Sends the held replies, in order, and stops holding. */
  release(): void;
  /** Drops the connections that registered an AsyncWait. */
  dropEvents(): void;
  /** portod going away: stops listening (the socket file goes) and drops every connection. */
  down(): Promise<void>;
  /** portod back on the same socket. */
  up(): Promise<void>;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  server: Socket;
  /** The connection registered an AsyncWait: it carries portod's pushes. */
  events: boolean;
  held: Buffer[];
}

export async function startPortoProxy(socketPath: string, target: () => string): Promise<PortoProxy> {
  const links = new Set<Link>();
  const requests = new Map<string, number>();
  let requestCount = 0;
  let server: Server | undefined;

  const drop = (l: Link) => {
    l.client.destroy();
    l.server.destroy();
    links.delete(l);
  };

  const accept = (client: Socket) => {
    const upstream = connect(target());
    const link: Link = { client, server: upstream, events: false, held: [] };
    links.add(link);
    const up = new FrameReader();
    const downstream = new FrameReader();
    client.on("data", (chunk) => {
      for (const bytes of up.push(chunk)) {
        const method = requestMethod(fromBinary(TContainerRequestSchema, bytes));
        requestCount++;
        requests.set(method, (requests.get(method) ?? 0) + 1);
        if (method === "AsyncWait") {
          link.events = true;
          if (proxy.refuseEvents) return drop(link);
        }
        upstream.write(frame(bytes));
      }
    });
    upstream.on("data", (chunk) => {
      for (const bytes of downstream.push(chunk)) {
        if (link.events) {
          if (proxy.deaf && fromBinary(TContainerResponseSchema, bytes).AsyncWait !== undefined) continue;
        } else if (proxy.hold) {
          link.held.push(frame(bytes));
          continue;
        }
        client.write(frame(bytes));
      }
    });
    for (const s of [client, upstream]) {
      s.on("error", () => undefined);
      s.on("close", () => drop(link));
    }
  };

  const listen = async () => {
    rmSync(socketPath, { force: true });
    server = createServer(accept);
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(socketPath, () => resolve());
    });
  };

  const proxy: PortoProxy = {
    socketPath,
    requests,
    get requestCount() {
      return requestCount;
    },
    deaf: false,
    refuseEvents: false,
    hold: false,
    get held() {
      let n = 0;
      for (const l of links) n += l.held.length;
      return n;
    },
    release() {
      proxy.hold = false;
      for (const l of links) {
        for (const b of l.held.splice(0)) l.client.write(b);
      }
    },
    dropEvents() {
      for (const l of [...links]) if (l.events) drop(l);
    },
    async down() {
      const s = server;
      server = undefined;
      const closed = new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
      for (const l of [...links]) drop(l);
      await closed;
      rmSync(socketPath, { force: true });
    },
    up: listen,
    async close() {
      await proxy.down();
    },
  };
  await listen();
  return proxy;
}
