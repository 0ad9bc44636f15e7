/**
 * A pool of portod connections, so that concurrent calls do not queue behind
 * one another or behind a long wait or image pull (portod runs one request at
 * a time per connection).
 *
 * Connections are opened on demand up to `maxConnections` and up to
 * `idleConnections` are kept open between calls. A connection that portod
 * drops (restart, `portod reload`) simply leaves the pool; the next call opens
 * a new one, so reconnecting needs no timer or state machine.
 */

import type { Logger } from "pino";
import { EError } from "../../gen/rpc_pb.js";
import type { TContainerRequest, TContainerResponse } from "../../gen/rpc_pb.js";
import { PortoConnection } from "./connection.js";
import { atDeadline } from "./deadline.js";
import type { CallOptions } from "./connection.js";
import { PortoError, isPortoError } from "./errors.js";
import { isReadOnlyMethod, requestMethod } from "./request.js";

/** Default socket of portod. */
export const DEFAULT_SOCKET_PATH = "/run/portod.socket";

/** Options of a connection pool. */
export interface PoolOptions {
  /** portod's socket; default /run/portod.socket. */
  socketPath?: string;
  /** Connections kept open while idle; default 8. */
  idleConnections?: number;
  /** Most connections open at once; calls beyond it wait for one. Default 64. */
  maxConnections?: number;
  /** Largest message accepted or sent; default 32 MiB as in portod. */
  maxMessageBytes?: number;
  /** Logs connection-level surprises. */
  logger?: Logger;
}

/** Per-call options of the pool. */
export interface PoolCallOptions extends CallOptions {
  /**
   * Whether the request may be sent again if the connection drops with it in
   * flight. Defaults to whether the request only reads (see request.ts).
   */
  retryable?: boolean;
}

/** Something that sends one Porto request and returns the reply. */
export interface PortoTransport {
  /** Runs one request; the reply is returned whatever its error code. */
  call(req: TContainerRequest, options?: PoolCallOptions): Promise<TContainerResponse>;
  /** Closes every connection; pending calls fail. */
  close(): void;
}

type Grant = { conn: PortoConnection } | { slot: true };

interface Waiter {
  grant(g: Grant): void;
  fail(err: unknown): void;
}

/** A pool of connections implementing PortoTransport. */
export class PortoPool implements PortoTransport {
  private readonly socketPath: string;
  private readonly idleMax: number;
  private readonly max: number;
  private readonly all = new Set<PortoConnection>();
  private readonly idle: PortoConnection[] = [];
  private readonly waiters: Waiter[] = [];
  /** Connections being opened; they count against `max`. */
  private opening = 0;
  private closed = false;

  constructor(private readonly options: PoolOptions = {}) {
    this.socketPath = options.socketPath ?? DEFAULT_SOCKET_PATH;
    this.idleMax = Math.max(0, options.idleConnections ?? 8);
    this.max = Math.max(1, options.maxConnections ?? 64);
  }

  /** Current numbers, for metrics and tests. */
  get stats(): { open: number; idle: number; opening: number; waiting: number } {
    return { open: this.all.size, idle: this.idle.length, opening: this.opening, waiting: this.waiters.length };
  }

  /**
   * Runs a request on a free connection. If the connection drops with the
   * request in flight, a retryable request is sent once more on a fresh
   * connection; any other request fails with SocketError (gRPC Unavailable),
   * because portod may or may not have carried it out.
   */
  async call(req: TContainerRequest, options: PoolCallOptions = {}): Promise<TContainerResponse> {
    const retryable = options.retryable ?? isReadOnlyMethod(requestMethod(req));
    for (let attempt = 0; ; attempt++) {
      const conn = await this.acquire(options, attempt > 0);
      try {
        return await conn.call(req, options);
      } catch (err) {
        if (attempt === 0 && retryable && isPortoError(err, EError.SocketError) && !this.closed) continue;
        throw err;
      } finally {
        this.release(conn);
      }
    }
  }

  /** Closes every connection; calls in flight or waiting fail with SocketError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.fail(closedError());
    for (const conn of [...this.all]) conn.close();
    this.idle.length = 0;
  }

  private async acquire(options: CallOptions, fresh: boolean): Promise<PortoConnection> {
    if (this.closed) throw closedError();
    if (!fresh) {
      for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
        if (!conn.closed) return conn;
      }
    }
    if (this.all.size + this.opening >= this.max && this.idle.length > 0) {
      // A fresh connection was asked for and only idle ones hold the slots: give one up.
      this.idle.shift()?.close();
    }
    if (this.all.size + this.opening < this.max) {
      this.opening++;
      return this.open(options);
    }
    const grant = await this.wait(options);
    if ("conn" in grant) return grant.conn;
    return this.open(options);
  }

  /** Opens a connection in a slot already counted in `opening`. */
  private async open(options: CallOptions): Promise<PortoConnection> {
    let conn: PortoConnection;
    try {
      conn = await PortoConnection.open(
        {
          socketPath: this.socketPath,
          maxMessageBytes: this.options.maxMessageBytes,
          logger: this.options.logger,
          onClose: () => this.forget(conn),
        },
        options,
      );
    } catch (err) {
      this.opening--;
      this.freeSlot();
      throw err;
    }
    this.opening--;
    if (this.closed) {
      conn.close();
      throw closedError();
    }
    this.all.add(conn);
    return conn;
  }

  private wait(options: CallOptions): Promise<Grant> {
    const { deadline, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Grant>((resolve, reject) => {
      let cancelDeadline: (() => void) | undefined;
      const done = (): void => {
        cancelDeadline?.();
        signal?.removeEventListener("abort", onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const waiter: Waiter = {
        grant: (g) => {
          done();
          resolve(g);
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.fail(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (deadline !== undefined) {
        cancelDeadline = atDeadline(deadline, () =>
          waiter.fail(new PortoError(EError.SocketTimeout, `no free connection among ${this.max}`)),
        );
      }
      this.waiters.push(waiter);
    });
  }

  private release(conn: PortoConnection): void {
    if (conn.closed || this.closed) {
      conn.close();
      return;
    }
    const waiter = this.waiters[0];
    if (waiter !== undefined) {
      waiter.grant({ conn });
    } else if (this.idle.length < this.idleMax) {
      this.idle.push(conn);
    } else {
      conn.close();
    }
  }

  /** A connection ended: its slot is free for someone waiting. */
  private forget(conn: PortoConnection): void {
    if (!this.all.delete(conn)) return;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.freeSlot();
  }

  private freeSlot(): void {
    if (this.closed) return;
    const waiter = this.waiters[0];
    if (waiter !== undefined && this.all.size + this.opening < this.max) {
      this.opening++;
      waiter.grant({ slot: true });
    }
  }
}

function closedError(): PortoError {
  return new PortoError(EError.SocketUnavailable, "the Porto client is closed");
}
