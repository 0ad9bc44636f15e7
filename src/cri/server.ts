/**
 * The CRI endpoint: gRPC over HTTP/2 cleartext on a unix socket, served by
 * connect-node from the generated RuntimeService and ImageService descriptors.
 *
 * Connections are accepted by a plain net.Server and handed to the HTTP/2
 * server through RewritingSocket, so that clients sending a raw socket path as
 * `:authority` (crictl 1.26) are served too; see h2/authority-rewrite.ts.
 */
import { createServer as createNetServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { createServer as createH2Server } from "node:http2";
import type { Http2Server, ServerHttp2Session } from "node:http2";
import { chmod, unlink } from "node:fs/promises";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { claimSocketPath } from "./socket-file.js";
import { RewritingSocket } from "./h2/rewriting-socket.js";

/** kubelet sends and accepts messages up to 16 MiB; ExecSync output alone can reach that. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface CriServerOptions {
  /** Unix socket path to listen on (Portoshim.Socket). */
  socketPath: string;
  /** Registers the services on the router. */
  routes: (router: ConnectRouter) => void;
  /** Interceptors run around every call, outermost first. */
  interceptors?: Interceptor[];
  logger: Logger;
}

export interface CriServer {
  /** Claims the socket path and starts accepting connections. */
  listen(): Promise<void>;
  /**
   * Stops accepting, lets calls in flight finish for at most `graceMs`, then
   * drops what is left and removes the socket file.
   */
  close(graceMs?: number): Promise<void>;
}

export function createCriServer(opts: CriServerOptions): CriServer {
  const handler = connectNodeAdapter({
    routes: opts.routes,
    grpc: true,
    grpcWeb: false,
    connect: false,
    interceptors: opts.interceptors,
    readMaxBytes: MAX_MESSAGE_BYTES,
    writeMaxBytes: MAX_MESSAGE_BYTES,
  });
  const h2: Http2Server = createH2Server({ maxSessionMemory: 64 }, handler);
  const sessions = new Set<ServerHttp2Session>();
  h2.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    // A client that breaks the protocol loses its session, never the process.
    session.on("error", (err) => opts.logger.debug({ err: err.message }, "http2 session error"));
  });
  h2.on("sessionError", (err) => opts.logger.debug({ err: err.message }, "http2 session error"));

  const net: NetServer = createNetServer((socket: Socket) => {
    socket.on("error", () => {});
    h2.emit("connection", new RewritingSocket(socket));
  });
  net.on("error", (err) => opts.logger.error({ err: err.message }, "cri socket error"));
  let listening = false;

  return {
    async listen() {
      await claimSocketPath(opts.socketPath);
      // The socket gives full control of the node: only root may connect. The
      // umask covers the moment between bind() and chmod().
      const oldMask = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          net.once("error", reject);
          net.listen(opts.socketPath, () => {
            net.off("error", reject);
            resolve();
          });
        });
      } finally {
        process.umask(oldMask);
      }
      await chmod(opts.socketPath, 0o600);
      listening = true;
    },

    async close(graceMs = 10_000) {
      if (!listening) return;
      listening = false;
      const closed = new Promise<void>((resolve) => net.close(() => resolve()));
      // GOAWAY: clients open no new streams; streams in flight run to completion.
      for (const s of sessions) s.close();
      const drained = new Promise<void>((resolve) => {
        if (sessions.size === 0) return resolve();
        const check = () => sessions.size === 0 && resolve();
        for (const s of sessions) s.once("close", check);
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      for (const s of sessions) s.destroy();
      await closed;
      await unlink(opts.socketPath).catch(() => {});
    },
  };
}
