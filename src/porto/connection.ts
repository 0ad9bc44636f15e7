/**
 * One unix-socket connection to portod.
 *
 * portod does not pipeline: it reads the next request only after it has
 * answered the previous one, and replies carry no request id. So a connection
 * has exactly one request in flight; further calls wait in a queue here, and
 * concurrency comes from more connections (see pool.ts).
 *
 * Besides replies, portod pushes AsyncWait events on a connection that
 * registered one. An event is a TContainerResponse with `error: Success` and
 * the `AsyncWait` field set; no reply to any request ever sets that field (the
 * reply to an AsyncWait request itself is a bare `error: Success`). portod may
 * push events before the reply to the request in flight, so every message with
 * `AsyncWait` goes to the event callback and never completes a call. This is
 * also how Porto's own C++ client (libporto Recv) tells them apart.
 */

import net from "node:net";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { EError, TContainerRequestSchema, TContainerResponseSchema } from "../../gen/rpc_pb.js";
import type { TContainerRequest, TContainerResponse, TContainerWaitResponse } from "../../gen/rpc_pb.js";
import { frame, FrameReader, MAX_MESSAGE_BYTES } from "./framing.js";
import { atDeadline } from "./deadline.js";
import { PortoError } from "./errors.js";
import { requestMethod } from "./request.js";

/** Options of one connection. */
export interface ConnectionOptions {
  /** Path of portod's unix socket, usually /run/portod.socket. */
  socketPath: string;
  /** Receives every AsyncWait event pushed on this connection. */
  onEvent?: (event: TContainerWaitResponse) => void;
  /** Called once when the connection is gone: with the reason, or undefined after close(). */
  onClose?: (reason: PortoError | undefined) => void;
  /**
   * Keep the process alive while nothing is in flight. Event subscriptions
   * want this; idle pooled connections should not hold a process open.
   */
  keepProcessAlive?: boolean;
  /** Largest message accepted or sent (portod's limit is 32 MiB). */
  maxMessageBytes?: number;
  /** Where connection-level surprises are logged. */
  logger?: Logger;
}

/** Per-call limits. */
export interface CallOptions {
  /** Epoch milliseconds by which the reply must have arrived; undefined for none. */
  deadline?: number;
  /** Abandons the call; the signal's reason is what the call rejects with. */
  signal?: AbortSignal;
}

interface Pending {
  readonly bytes: Buffer;
  readonly method: string;
  resolve(rsp: TContainerResponse): void;
  reject(err: unknown): void;
  /** Stops the deadline timer and the abort listener. */
  cleanup(): void;
}

/** A connected socket to portod that runs one request at a time. */
export class PortoConnection {
  private readonly reader: FrameReader;
  private readonly maxBytes: number;
  private readonly queue: Pending[] = [];
  private current: Pending | undefined;
  /** undefined while open; the reason (or null after close()) once gone. */
  private ended: PortoError | null | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.reader = new FrameReader(this.maxBytes);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.shutdown(socketFailure(err, options.socketPath)));
    socket.on("close", () => this.shutdown(new PortoError(EError.SocketError, "connection closed by portod")));
    this.updateRef();
  }

  /** Connects to portod; rejects with SocketUnavailable when nothing listens there. */
  static open(options: ConnectionOptions, call: CallOptions = {}): Promise<PortoConnection> {
    const { deadline, signal } = call;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: options.socketPath });
      let cancelDeadline: (() => void) | undefined;
      const finish = (err?: unknown): void => {
        cancelDeadline?.();
        signal?.removeEventListener("abort", onAbort);
        socket.off("connect", onConnect);
        socket.off("error", onError);
        if (err === undefined) {
          resolve(new PortoConnection(socket, options));
        } else {
          socket.destroy();
          reject(err);
        }
      };
      const onConnect = (): void => finish();
      const onError = (err: Error): void => finish(socketFailure(err, options.socketPath));
      const onAbort = (): void => finish(signal?.reason);
      socket.once("connect", onConnect);
      socket.once("error", onError);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (deadline !== undefined) {
        cancelDeadline = atDeadline(deadline, () =>
          finish(new PortoError(EError.SocketTimeout, `connecting to ${options.socketPath} timed out`)),
        );
      }
    });
  }

  /** True once the connection can no longer be used. */
  get closed(): boolean {
    return this.ended !== undefined;
  }

  /** True while a request is in flight or queued. */
  get busy(): boolean {
    return this.current !== undefined || this.queue.length > 0;
  }

  /**
   * Sends one request and resolves with portod's reply, whatever its error
   * code (callers decide what an error reply means). Rejects with a
   * PortoError of code SocketTimeout when the deadline passes, SocketError
   * when the connection drops; either way a call whose request was sent
   * destroys the connection, since its reply could still arrive and would be
   * taken for the answer to the next request.
   */
  call(req: TContainerRequest, options: CallOptions = {}): Promise<TContainerResponse> {
    const method = requestMethod(req);
    if (this.ended !== undefined) {
      return Promise.reject(new PortoError(EError.SocketError, "connection is closed", { method }));
    }
    const payload = toBinary(TContainerRequestSchema, req);
    if (payload.length > this.maxBytes) {
      return Promise.reject(
        new PortoError(EError.InvalidValue, `request of ${payload.length} bytes exceeds the ${this.maxBytes} byte limit`, {
          method,
        }),
      );
    }
    const { deadline, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const started = Date.now();
    if (deadline !== undefined && deadline <= started) {
      return Promise.reject(new PortoError(EError.SocketTimeout, "deadline passed before sending", { method }));
    }

    return new Promise<TContainerResponse>((resolve, reject) => {
      let cancelDeadline: (() => void) | undefined;
      const onAbort = (): void => this.abandon(pending, signal?.reason);
      const pending: Pending = {
        bytes: frame(payload),
        method,
        resolve,
        reject,
        cleanup: () => {
          cancelDeadline?.();
          signal?.removeEventListener("abort", onAbort);
        },
      };
      if (deadline !== undefined) {
        cancelDeadline = atDeadline(deadline, () => {
          const ms = deadline - started;
          this.abandon(pending, new PortoError(EError.SocketTimeout, `no reply within ${ms} ms`, { method }));
        });
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(pending);
      this.pump();
    });
  }

  /** Closes the connection; calls still queued or in flight fail with SocketError. */
  close(): void {
    this.shutdown(null);
  }

  private abandon(pending: Pending, err: unknown): void {
    if (this.current === pending) {
      // Its reply may still come and would desynchronise the next call.
      this.shutdown(new PortoError(EError.SocketError, `connection dropped after ${pending.method} was abandoned`), err);
      return;
    }
    const i = this.queue.indexOf(pending);
    if (i >= 0) this.queue.splice(i, 1);
    pending.cleanup();
    pending.reject(err);
    this.updateRef();
  }

  private pump(): void {
    if (this.current !== undefined || this.ended !== undefined) return;
    const next = this.queue.shift();
    if (next !== undefined) {
      this.current = next;
      this.socket.write(next.bytes);
    }
    this.updateRef();
  }

  private onData(chunk: Buffer): void {
    if (this.ended !== undefined) return;
    let messages: Uint8Array[];
    try {
      messages = this.reader.push(chunk);
    } catch (err) {
      this.shutdown(new PortoError(EError.SocketError, `bad frame from portod: ${(err as Error).message}`));
      return;
    }
    for (const bytes of messages) {
      if (this.ended !== undefined) return;
      let rsp: TContainerResponse;
      try {
        rsp = fromBinary(TContainerResponseSchema, bytes);
      } catch (err) {
        this.shutdown(new PortoError(EError.SocketError, `cannot decode a reply: ${(err as Error).message}`));
        return;
      }
      if (rsp.AsyncWait !== undefined) {
        this.emitEvent(rsp.AsyncWait);
        continue;
      }
      const pending = this.current;
      if (pending === undefined) {
        this.shutdown(new PortoError(EError.SocketError, "portod sent a reply nobody asked for"));
        return;
      }
      this.current = undefined;
      pending.cleanup();
      pending.resolve(rsp);
      this.pump();
    }
  }

  private emitEvent(event: TContainerWaitResponse): void {
    const onEvent = this.options.onEvent;
    if (onEvent === undefined) {
      this.options.logger?.warn({ name: event.name, state: event.state }, "porto: AsyncWait event on a connection without a subscriber");
      return;
    }
    try {
      onEvent(event);
    } catch (err) {
      this.options.logger?.error({ err }, "porto: event handler threw");
    }
  }

  /**
   * Ends the connection once. The call in flight rejects with `currentErr`
   * (or the reason); queued calls were never sent and reject with the reason.
   */
  private shutdown(reason: PortoError | null, currentErr?: unknown): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.socket.destroy();
    const closedErr = (method: string): PortoError =>
      new PortoError(reason?.code ?? EError.SocketError, reason?.portoMessage ?? "connection closed by the client", {
        method,
      });
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) {
      current.cleanup();
      current.reject(currentErr ?? closedErr(current.method));
    }
    for (const pending of this.queue.splice(0)) {
      pending.cleanup();
      pending.reject(closedErr(pending.method));
    }
    this.options.onClose?.(reason ?? undefined);
  }

  private updateRef(): void {
    if (this.ended !== undefined) return;
    if (this.options.keepProcessAlive || this.busy) this.socket.ref();
    else this.socket.unref();
  }
}

/** Porto's own mapping of socket errnos (libporto): nobody listening is Unavailable, the rest a socket error. */
function socketFailure(err: Error, path: string): PortoError {
  const errno = (err as NodeJS.ErrnoException).code;
  const unavailable = errno === "ENOENT" || errno === "ECONNREFUSED" || errno === "EACCES" || errno === "EPERM" || errno === "EAGAIN";
  return new PortoError(unavailable ? EError.SocketUnavailable : EError.SocketError, `${path}: ${err.message}`, {
    cause: err,
  });
}
