/**
 * The streaming server: a Fastify app on StreamingServer.Address:Port serving
 * /exec/<token>, /attach/<token> and /portforward/<token>.
 *
 * The CRI calls (Exec, Attach, PortForward) store their request under a
 * one-time token and answer with the URL; the client's connection consumes the
 * token, upgrades (SPDY/3.1 or WebSocket, negotiated as kubelet does) and runs
 * the session against the ExecBackend. Only the token is read from the URL.
 *
 * Upgrades reach Node's `upgrade` event, not Fastify's router, so they are
 * dispatched here; plain requests to the same paths go through Fastify and are
 * refused with 400, as kubelet refuses a request without upgrade headers.
 */
import Fastify from "fastify";
import type { FastifyInstance } from "fastify";
import type { IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer } from "ws";
import type { WebSocket } from "ws";
import type { AttachRequest, ExecRequest, PortForwardRequest } from "../../gen/runtime/v1/api_pb.js";
import type { ExecBackend, StdioStreams } from "./exec-backend.js";
import { ExecError } from "./exec-backend.js";
import { hostPort, isWildcardAddress, nodeAddress } from "./node-address.js";
import {
  SPDY_PORT_FORWARD_PROTOCOLS,
  WS_PORT_FORWARD_PROTOCOLS,
  parsePort,
  spdyPortForward,
  wsPortForward,
} from "./port-forward.js";
import type { Forward } from "./port-forward.js";
import {
  SPDY_REMOTE_COMMAND_PROTOCOLS,
  STREAM_CREATION_TIMEOUT_MS,
  WS_REMOTE_COMMAND_PROTOCOLS,
  spdyRemoteCommand,
  wsRemoteCommand,
} from "./remote-command.js";
import type { RemoteCommandOptions, RemoteCommandSession } from "./remote-command.js";
import { SpdyConnection } from "./spdy/connection.js";
import { TokenStore } from "./token-store.js";
import type { StreamKind } from "./token-store.js";
import { negotiateWsProtocol, parseWsProtocols } from "./ws-channels.js";

export interface StreamingServerOptions {
  /** Listen address (config StreamingServer.Address); `::` or `0.0.0.0` for all. */
  address: string;
  /** Listen port (config StreamingServer.Port); 0 picks a free one. */
  port: number;
  backend: ExecBackend;
  logger?: Logger;
  /** Host for URLs instead of the one derived from `address` (see node-address.ts). */
  urlHost?: string;
  /** Lifetime of an unused token; default one minute. */
  tokenTtlMs?: number;
  /** How long a client may take to open its streams; default 30 s as kubelet. */
  streamCreationTimeoutMs?: number;
}

type StreamRequest = ExecRequest | AttachRequest | PortForwardRequest;

/** The streaming server's URL side, which the CRI handlers use. */
export interface StreamingUrls {
  execUrl(req: ExecRequest): string;
  attachUrl(req: AttachRequest): string;
  portForwardUrl(req: PortForwardRequest): string;
}

export interface StreamingServer extends StreamingUrls {
  /** `http://host:port`, valid after listen(). */
  readonly baseUrl: string;
  listen(): Promise<void>;
  /** Stops listening and drops every session (their processes are killed). */
  close(): Promise<void>;
}

const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})\/?(?:\?.*)?$/;

export function createStreamingServer(options: StreamingServerOptions): StreamingServer {
  const log = options.logger?.child({ component: "streaming" });
  const tokens = new TokenStore<StreamRequest>({ ttlMs: options.tokenTtlMs });
  const creationTimeout = options.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS;
  const sockets = new Set<Duplex>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: true });
  const app: FastifyInstance = Fastify({ logger: false });
  let baseUrl = "";

  for (const kind of ["exec", "attach", "portforward"] as const) {
    app.all(`/${kind}/:token`, async (request, reply) => {
      tokens.consume(kind, (request.params as { token: string }).token);
      reply.code(400).type("text/plain").send("unable to upgrade: missing upgrade headers in request");
    });
  }

  app.server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    try {
      dispatch(req, socket, head);
    } catch (err) {
      log?.warn({ err: (err as Error).message }, "streaming request failed");
      refuse(socket, 500, (err as Error).message);
    }
  });

  function dispatch(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const m = PATH.exec(req.url ?? "");
    if (!m) return refuse(socket, 404, "404 page not found");
    const kind = m[1] as StreamKind;
    const request = tokens.consume(kind, m[2]);
    if (!request) return refuse(socket, 404, "404 page not found");
    const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
    if (upgrade === "websocket") return acceptWebSocket(kind, request, req, socket, head);
    if (upgrade.startsWith("spdy/3.1")) return acceptSpdy(kind, request, req, socket, head);
    refuse(socket, 400, `unable to upgrade: unsupported upgrade protocol ${JSON.stringify(req.headers.upgrade)}`);
  }

  function acceptSpdy(kind: StreamKind, request: StreamRequest, req: IncomingMessage, socket: Socket, head: Buffer) {
    const supported: readonly string[] = kind === "portforward" ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_REMOTE_COMMAND_PROTOCOLS;
    const offered = (req.headersDistinct["x-stream-protocol-version"] ?? [])
      .flatMap((v) => v.split(","))
      .map((v) => v.trim())
      .filter((v) => v !== "");
    if (offered.length === 0) return refuse(socket, 400, "unable to upgrade: X-Stream-Protocol-Version is required");
    const protocol = offered.find((p) => supported.includes(p));
    if (!protocol) {
      return refuse(
        socket,
        403,
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], server accepts [${supported.join(" ")}]`,
        supported.map((p) => `X-Accept-Stream-Protocol-Version: ${p}`),
      );
    }
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
        `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
    );
    const conn = new SpdyConnection(socket, head);
    conn.on("close", (err) => {
      if (err) log?.debug({ err: err.message }, "SPDY connection closed with an error");
    });
    log?.debug({ kind, protocol, transport: "spdy" }, "streaming session");
    if (kind === "portforward") {
      const pf = request as PortForwardRequest;
      void spdyPortForward(conn, forwarder(pf), (port) => describePod(pf, port), creationTimeout);
      return;
    }
    void spdyRemoteCommand(conn, protocol, commandOptions(request as ExecRequest | AttachRequest), creationTimeout).then(
      (session) => {
        if (session) return runCommand(kind, request as ExecRequest | AttachRequest, session);
        log?.debug({ kind }, "client did not open its streams in time");
      },
    );
  }

  function acceptWebSocket(kind: StreamKind, request: StreamRequest, req: IncomingMessage, socket: Socket, head: Buffer) {
    const supported: readonly string[] = kind === "portforward" ? WS_PORT_FORWARD_PROTOCOLS : WS_REMOTE_COMMAND_PROTOCOLS;
    const offered = parseWsProtocols(req.headers["sec-websocket-protocol"]);
    const protocol = negotiateWsProtocol(offered, supported);
    if (protocol === undefined) {
      return refuse(
        socket,
        403,
        `requested protocol(s) are not supported: [${offered.join(" ")}]; supports [${supported.filter((p) => p).join(" ")}]`,
      );
    }
    let ports: number[] = [];
    if (kind === "portforward") {
      ports = (request as PortForwardRequest).port.filter((p) => p > 0 && p < 65536);
      if (ports.length === 0) {
        const query = new URL(req.url ?? "/", "http://x").searchParams.getAll("port");
        const parsed = query.flatMap((q) => q.split(",")).map((q) => parsePort(q.trim()));
        if (parsed.length === 0 || parsed.some((p) => p === undefined)) {
          return refuse(socket, 400, `query parameter "port" is required and must name ports 1-65535`);
        }
        ports = parsed as number[];
      }
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      log?.debug({ kind, protocol, transport: "websocket" }, "streaming session");
      if (kind === "portforward") {
        const pf = request as PortForwardRequest;
        void wsPortForward(ws, protocol, ports, forwarder(pf), (port) => describePod(pf, port));
        return;
      }
      const session = wsRemoteCommand(ws, protocol, commandOptions(request as ExecRequest | AttachRequest));
      void runCommand(kind, request as ExecRequest | AttachRequest, session);
    });
  }

  function forwarder(pf: PortForwardRequest): Forward {
    return (port, data) => options.backend.portForward(pf.podSandboxId, port, data);
  }

  async function runCommand(kind: StreamKind, request: ExecRequest | AttachRequest, session: RemoteCommandSession) {
    const io: StdioStreams = {
      tty: request.tty,
      stdin: session.stdin,
      stdout: session.stdout,
      stderr: session.stderr,
      resize: session.resize,
      signal: session.gone,
    };
    const started = Date.now();
    try {
      if (kind === "exec") {
        const exec = request as ExecRequest;
        const code = await options.backend.exec(exec.containerId, exec.cmd, io);
        log?.debug({ kind, containerId: exec.containerId, exitCode: code, ms: Date.now() - started }, "exec finished");
        await session.finish({ kind: "exit", code });
      } else {
        await options.backend.attach(request.containerId, io);
        await session.finish({ kind: "exit", code: 0 });
      }
    } catch (err) {
      const message = err instanceof ExecError ? err.message : String((err as Error)?.message ?? err);
      if (!session.gone.aborted) log?.warn({ kind, containerId: request.containerId, err: message }, "streaming session failed");
      await session.finish({ kind: "error", message }).catch(() => undefined);
    }
  }

  function url(kind: StreamKind, request: StreamRequest): string {
    if (!baseUrl) throw new Error("the streaming server is not listening");
    return `${baseUrl}/${kind}/${tokens.insert(kind, request)}`;
  }

  return {
    get baseUrl() {
      return baseUrl;
    },
    execUrl: (req) => url("exec", req),
    attachUrl: (req) => url("attach", req),
    portForwardUrl: (req) => url("portforward", req),
    async listen() {
      let host = options.address;
      try {
        await app.listen({ host, port: options.port });
      } catch (err) {
        // A host without IPv6 cannot bind [::]; all of IPv4 is the same intent.
        if (host !== "::" || !["EAFNOSUPPORT", "EADDRNOTAVAIL"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
        host = "0.0.0.0";
        await app.listen({ host, port: options.port });
      }
      const bound = app.server.address();
      const port = typeof bound === "object" && bound ? bound.port : options.port;
      const urlHost = options.urlHost ?? (isWildcardAddress(options.address) ? nodeAddress() : options.address);
      baseUrl = `http://${hostPort(urlHost, port)}`;
      log?.info({ address: host, port, url: baseUrl }, "streaming server listening");
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      for (const s of sockets) s.destroy();
      wss.close();
      await app.close();
    },
  };
}

function commandOptions(req: ExecRequest | AttachRequest): RemoteCommandOptions {
  return { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr && !req.tty, tty: req.tty };
}

function describePod(pf: PortForwardRequest, _port: number): string {
  return `pod sandbox ${pf.podSandboxId}`;
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuse(socket: Socket, code: number, message: string, extraHeaders: string[] = []): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ""}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n` +
      extraHeaders.map((h) => `${h}\r\n`).join("") +
      `\r\n${body}`,
  );
}
