/**
 * A transport bound to one connection for its whole life.
 *
 * portod ties weak containers (`createWeak`) to the connection that created
 * them and destroys them when it closes. Through the pool that connection
 * could be closed at any time, so weak containers need a session: one
 * connection that lives until `close()`, and is never silently replaced (a new
 * connection would not own the weak containers; callers must learn they died).
 */

import type { Logger } from "pino";
import { EError } from "../../gen/rpc_pb.js";
import type { TContainerRequest, TContainerResponse } from "../../gen/rpc_pb.js";
import { PortoConnection } from "./connection.js";
import { PortoError } from "./errors.js";
import type { PoolCallOptions, PortoTransport } from "./pool.js";

/** Options of a session. */
export interface SessionOptions {
  /** portod's socket. */
  socketPath: string;
  /** Largest message accepted or sent. */
  maxMessageBytes?: number;
  /** Logs connection-level surprises. */
  logger?: Logger;
}

/** One dedicated connection, opened on first use; calls on it run one after another. */
export class PortoSession implements PortoTransport {
  private conn: Promise<PortoConnection> | undefined;
  private lost: PortoError | undefined;
  private closed = false;

  constructor(private readonly options: SessionOptions) {}

  /** Runs a request on the session's connection; never retried elsewhere. */
  async call(req: TContainerRequest, options: PoolCallOptions = {}): Promise<TContainerResponse> {
    const conn = await this.connection(options);
    return conn.call(req, options);
  }

  /** Closes the connection; portod destroys the weak containers it created. */
  close(): void {
    this.closed = true;
    this.conn?.then((c) => c.close(), () => undefined);
  }

  private connection(options: PoolCallOptions): Promise<PortoConnection> {
    if (this.closed) return Promise.reject(new PortoError(EError.SocketUnavailable, "the Porto session is closed"));
    if (this.lost) return Promise.reject(this.lost);
    if (this.conn === undefined) {
      const opening = PortoConnection.open(
        {
          ...this.options,
          onClose: (reason) => {
            this.lost = new PortoError(
              EError.SocketError,
              `session connection lost (${reason?.portoMessage ?? "closed"}); weak containers it created are gone`,
            );
          },
        },
        { deadline: options.deadline, signal: options.signal },
      );
      // A failed connect leaves the session unopened, so a later call may try again.
      this.conn = opening;
      opening.then(
        (c) => {
          if (this.closed) c.close();
        },
        () => {
          if (this.conn === opening) this.conn = undefined;
        },
      );
    }
    return this.conn;
  }
}
