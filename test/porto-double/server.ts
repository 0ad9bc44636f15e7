/**
 * The unix-socket front of the double: portod's framing, one request at a
 * time per connection (later requests wait unread, as portod stops reading
 * while it works), replies with `error`, `errorMsg` and `timestamp`, and
 * AsyncWait pushes written the moment they happen, so they can land between
 * a request and its reply exactly as with portod.
 */
import { createServer, type Server, type Socket } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  EError,
  TContainerRequestSchema,
  TContainerResponseSchema,
  TContainerWaitResponseSchema,
  type TContainerRequest,
  type TContainerResponse,
} from "../../gen/rpc_pb.js";
import { frame, FrameReader } from "../../src/porto/framing.js";
import type { Container } from "./container.js";
import { Daemon, DEFAULT_ULIMIT } from "./daemon.js";
import { PortoError } from "./errors.js";
import { handle, type Conn, type Services } from "./handlers.js";
import { Images, type ImageSeed } from "./images.js";
import { Volumes } from "./volumes.js";
import type { Report, Waiter } from "./waiters.js";

export interface PortoDoubleOptions {
  /** Where to listen; default: a fresh temporary directory's `portod.socket`. */
  socketPath?: string;
  /** Images pullDockerImage can "download". */
  images?: ImageSeed[];
  /** Stands in for /place/porto and /place/porto_volumes; default: a temporary directory removed on close. */
  workDir?: string;
  /** Treat clients as root (220-byte container paths); default: whether the double runs as root. */
  superuser?: boolean;
  /** Stop timeout when a stop request has none; portod's default is 30 s. */
  stopTimeoutMs?: number;
  /** Rotation period of running containers' stdout/stderr (portod's log_rotate_ms, 1 s); 0 turns it off. */
  logRotateMs?: number;
  /** Whose descriptors `/dev/fd/N` stream paths name (portod: the requesting client's); default this process. */
  redirectPid?: number;
  /** What Version reports. */
  version?: { tag: string; revision: string };
  /** portod.conf default_ulimit, as seen in dumped specs (default: this machine kind's portod.conf). */
  defaultUlimit?: string;
}

/** What a test can look at (and poke) inside a running double. */
export interface DoubleState {
  readonly daemon: Daemon;
  readonly containers: ReadonlyMap<string, Container>;
  readonly volumes: Volumes;
  readonly images: Images;
}

export interface PortoDouble {
  readonly socketPath: string;
  readonly state: DoubleState;
  /** Stops listening, drops clients, kills every process the double started, removes its temp dirs. */
  close(): Promise<void>;
}

export const DOUBLE_VERSION = { tag: "5.3.59-double", revision: "porto-double" };

export async function startPortoDouble(options: PortoDoubleOptions = {}): Promise<PortoDouble> {
  const temp = mkdtempSync(join(tmpdir(), "porto-double-"));
  const socketPath = options.socketPath ?? join(temp, "portod.socket");
  const workDir = options.workDir ?? join(temp, "place");
  const daemon = new Daemon({
    workDir: join(workDir, "porto"),
    superuser: options.superuser ?? (typeof process.getuid === "function" && process.getuid() === 0),
    stopTimeoutMs: options.stopTimeoutMs ?? 30_000,
    defaultUlimit: options.defaultUlimit ?? DEFAULT_ULIMIT,
    redirectPid: options.redirectPid,
    logRotateMs: options.logRotateMs,
  });
  const volumes = new Volumes(daemon, join(workDir, "porto_volumes"), workDir);
  daemon.volumes = volumes;
  const images = new Images(options.images ?? [], workDir);
  const services: Services = {
    daemon,
    volumes,
    images,
    version: options.version ?? DOUBLE_VERSION,
    startedAt: Date.now(),
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    daemon.stats.clients++;
    const conn = new Connection(socket, services);
    socket.on("close", () => {
      sockets.delete(socket);
      daemon.stats.clients--;
      conn.closed = true;
      daemon.clientClosed(conn);
      // Release a request stuck in a sync wait; nothing is sent on a closed connection.
      conn.answerWait({ name: "", state: "timeout", when: 0 });
    });
  });
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    state: { daemon, containers: daemon.containers, volumes, images },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      daemon.killAll();
      rmSync(temp, { recursive: true, force: true });
      if (options.socketPath) rmSync(options.socketPath, { force: true });
    },
  };
}

class Connection implements Conn {
  readonly weakContainers: Container[] = [];
  asyncWaiter: Waiter | undefined;
  syncWaiter: Waiter | undefined;
  closed = false;
  private readonly reader = new FrameReader();
  private readonly queue: Uint8Array[] = [];
  private busy = false;
  private waitAnswer: ((r: Report) => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly services: Services,
  ) {
    socket.on("data", (chunk) => {
      try {
        this.queue.push(...this.reader.push(chunk));
      } catch {
        socket.destroy();
        return;
      }
      void this.pump();
    });
    socket.on("error", () => undefined);
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length && !this.closed) await this.serve(this.queue.shift()!);
    } finally {
      this.busy = false;
    }
  }

  private async serve(bytes: Uint8Array): Promise<void> {
    let req: TContainerRequest;
    try {
      req = fromBinary(TContainerRequestSchema, bytes);
    } catch {
      // portod drops a client whose request does not parse.
      this.socket.destroy();
      return;
    }
    const timestamp = BigInt(Math.floor(Date.now() / 1000));
    const rsp = create(TContainerResponseSchema);
    // portod's TRequest::Check (exactly one method, no unknown fields) only
    // logs in verbose mode: its error is overwritten by the dispatch, so a
    // request with two methods runs the first in dispatch order, unknown
    // fields are ignored, and no method at all is "invalid RPC method".
    let error: PortoError | undefined;
    let waitReport: Report | undefined;
    try {
      const outcome = await handle(this.services, this, req, rsp);
      if (outcome.kind === "wait") waitReport = outcome.report;
    } catch (e) {
      error = e instanceof PortoError ? e : new PortoError(EError.Unknown, String(e));
    }
    const stats = this.services.daemon.stats;
    stats.requests++;
    if (this.closed) return;
    if (waitReport) {
      // A sync wait's answer is a report: error and the wait field only.
      this.send(create(TContainerResponseSchema, { error: EError.Success, wait: toWaitResponse(waitReport) }));
      return;
    }
    if (error) stats.failed++;
    rsp.error = error ? error.code : EError.Success;
    rsp.errorMsg = error ? error.message : "";
    rsp.timestamp = timestamp;
    this.send(rsp);
  }

  private send(rsp: TContainerResponse): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(frame(toBinary(TContainerResponseSchema, rsp)));
  }

  pushAsync(report: Report): void {
    this.send(create(TContainerResponseSchema, { error: EError.Success, AsyncWait: toWaitResponse(report) }));
  }

  answerWait(report: Report): void {
    const answer = this.waitAnswer;
    this.waitAnswer = undefined;
    answer?.(report);
  }

  expectWaitAnswer(): Promise<Report> {
    return new Promise((resolve) => (this.waitAnswer = resolve));
  }
}

function toWaitResponse(r: Report) {
  const w = create(TContainerWaitResponseSchema, { name: r.name, state: r.state, when: BigInt(r.when) });
  if (r.label !== undefined) {
    w.label = r.label;
    if (r.value !== undefined && r.value !== "") w.value = r.value;
  }
  return w;
}
