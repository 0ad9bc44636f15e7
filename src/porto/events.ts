/**
 * Container state and label changes from portod's AsyncWait.
 *
 * portod keeps one AsyncWait registration per connection (a new one replaces
 * the old), so every subscription owns a dedicated connection. When portod
 * restarts or reloads, the registration dies with the connection: the
 * subscription reconnects, registers again, and then yields `{type: "resync"}`
 * because changes in between were not seen. A consumer keeping an in-memory
 * view lists containers again when it sees one (after the first registration
 * it lists once anyway, after `ready`).
 */

import { create } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { EError, TContainerRequestSchema } from "../../gen/rpc_pb.js";
import type { TContainerRequest, TContainerWaitResponse } from "../../gen/rpc_pb.js";
import { PortoConnection } from "./connection.js";
import { PortoError, isPortoError, responseError } from "./errors.js";
import { DEFAULT_SOCKET_PATH } from "./pool.js";

/** What to watch. */
export interface SubscribeOptions {
  /** portod's socket; default /run/portod.socket. */
  socketPath?: string;
  /** Container names or patterns (`***` for all, `pod-*`). */
  names: string[];
  /** Label patterns (`CRI.*`): changes of matching labels are reported too. */
  labels?: string[];
  /** One-shot: report the first time a container reaches this state, then end. */
  targetState?: string;
  /** portod-side limit: after it, the subscription yields `{type: "timeout"}` and ends. */
  timeoutMs?: number;
  /** Events held for a slow consumer before they are replaced by one resync; default 10000. */
  maxBuffered?: number;
  /** First delay before reconnecting; doubles up to maxReconnectDelayMs. Default 100. */
  reconnectDelayMs?: number;
  /** Longest delay between reconnect attempts; default 5000. */
  maxReconnectDelayMs?: number;
  /** Largest message accepted; default 32 MiB. */
  maxMessageBytes?: number;
  /** Logs reconnects. */
  logger?: Logger;
  /**
   * Called when the registration is lost with its connection, before
   * reconnecting: from then on changes go unseen until the `resync` that
   * follows the next registration (a view of portod is stale meanwhile).
   */
  onDisconnect?: (reason: Error | undefined) => void;
}

/** A change portod reported. */
export interface PortoChangeEvent {
  type: "change";
  /** Container name as portod reports it to us (relative to our namespace). */
  name: string;
  /** The container's state at the time of the change. */
  state: string;
  /** When, in epoch seconds. */
  when: number;
  /**
   * For a label change: the label. portod also reports deaths this way, with
   * the pseudo-label `exit_code` (or `start_error`) and its value, so a state
   * change may carry a lowercase label too.
   */
  label?: string;
  /** For a label change: its new value. */
  value?: string;
}

/** Changes may have been missed (reconnect, or the consumer fell too far behind): list again. */
export interface PortoResyncEvent {
  type: "resync";
  reason: "reconnect" | "overflow";
}

/** The subscription's `timeoutMs` passed; the subscription ends after this. */
export interface PortoTimeoutEvent {
  type: "timeout";
}

/** Everything a subscription yields. */
export type PortoEvent = PortoChangeEvent | PortoResyncEvent | PortoTimeoutEvent;

/** A live AsyncWait registration, consumed with `for await`. */
export interface Subscription extends AsyncIterable<PortoEvent> {
  /** Resolves once portod accepted the first registration; rejects if it refused it. */
  readonly ready: Promise<void>;
  /** Stops watching (StopAsyncWait, then closes the connection); the iteration ends. */
  close(): Promise<void>;
}

/** Starts watching; connection and registration happen in the background. */
export function subscribe(options: SubscribeOptions): Subscription {
  return new PortoSubscription(options);
}

class PortoSubscription implements Subscription {
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  private readonly buffer: PortoEvent[] = [];
  private readonly maxBuffered: number;
  private readonly deadline: number | undefined;
  private reader: ((r: IteratorResult<PortoEvent>) => void) | undefined;
  private readerFail: ((err: unknown) => void) | undefined;
  private failure: unknown;
  private ended = false;
  private conn: PortoConnection | undefined;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;

  constructor(private readonly options: SubscribeOptions) {
    this.maxBuffered = Math.max(1, options.maxBuffered ?? 10_000);
    this.deadline = options.timeoutMs !== undefined ? Date.now() + options.timeoutMs : undefined;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Callers who only iterate must not get an unhandled rejection from `ready`.
    this.ready.catch(() => undefined);
    this.loop = this.run();
  }

  [Symbol.asyncIterator](): AsyncIterator<PortoEvent> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async close(): Promise<void> {
    if (this.ended) return this.loop;
    this.finish();
    const conn = this.conn;
    if (conn !== undefined && !conn.closed) {
      // Closing alone would drop the registration too; StopAsyncWait says so explicitly and
      // lets portod release it before the socket goes.
      try {
        await conn.call(this.request("StopAsyncWait"), { deadline: Date.now() + 1000 });
      } catch {
        // The connection is going away anyway.
      }
      conn.close();
    }
    await this.loop;
  }

  private next(): Promise<IteratorResult<PortoEvent>> {
    const event = this.buffer.shift();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.reader = resolve;
      this.readerFail = reject;
    });
  }

  private push(event: PortoEvent): void {
    if (this.ended) return;
    const reader = this.reader;
    if (reader !== undefined) {
      this.reader = this.readerFail = undefined;
      reader({ done: false, value: event });
      return;
    }
    if (this.buffer.length >= this.maxBuffered) {
      this.options.logger?.warn({ dropped: this.buffer.length }, "porto events: consumer too slow, asking it to resync");
      this.buffer.length = 0;
      this.buffer.push({ type: "resync", reason: "overflow" });
    }
    this.buffer.push(event);
  }

  /** Ends the iteration, with an error if given; buffered events are still delivered. */
  private finish(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (err !== undefined) this.failure = err;
    this.rejectReady(err ?? new PortoError(EError.SocketUnavailable, "subscription closed"));
    const reader = this.reader;
    const readerFail = this.readerFail;
    this.reader = this.readerFail = undefined;
    if (err !== undefined) readerFail?.(err);
    else reader?.({ done: true, value: undefined });
    this.wake?.();
    if (err !== undefined) this.conn?.close();
  }

  private onEvent(ev: TContainerWaitResponse): void {
    // An event, even one pushed before the registration's reply, means portod took the registration.
    this.resolveReady();
    if (ev.name === "" && ev.state === "timeout") {
      this.push({ type: "timeout" });
      this.conn?.close();
      this.finish();
      return;
    }
    const event: PortoChangeEvent = { type: "change", name: ev.name, state: ev.state, when: Number(ev.when) };
    if (ev.label !== "") {
      event.label = ev.label;
      event.value = ev.value;
    }
    this.push(event);
    if (this.options.targetState) {
      // portod drops a one-shot registration after its first report.
      this.conn?.close();
      this.finish();
    }
  }

  private request(kind: "AsyncWait" | "StopAsyncWait"): TContainerRequest {
    const wait = {
      name: this.options.names,
      label: this.options.labels ?? [],
      targetState: this.options.targetState,
      timeoutMs:
        kind === "AsyncWait" && this.deadline !== undefined
          ? Math.min(0xffffffff, Math.max(0, this.deadline - Date.now()))
          : undefined,
    };
    return create(TContainerRequestSchema, kind === "AsyncWait" ? { AsyncWait: wait } : { StopAsyncWait: wait });
  }

  private async run(): Promise<void> {
    const initialDelay = this.options.reconnectDelayMs ?? 100;
    const maxDelay = this.options.maxReconnectDelayMs ?? 5000;
    let delay = initialDelay;
    let registered = false;
    while (!this.ended) {
      let closed!: Promise<PortoError | undefined>;
      try {
        let onClose!: (reason: PortoError | undefined) => void;
        closed = new Promise((resolve) => (onClose = resolve));
        const conn = await PortoConnection.open({
          socketPath: this.options.socketPath ?? DEFAULT_SOCKET_PATH,
          maxMessageBytes: this.options.maxMessageBytes,
          logger: this.options.logger,
          keepProcessAlive: true,
          onEvent: (ev) => this.onEvent(ev),
          onClose,
        });
        if (this.ended) {
          conn.close();
          break;
        }
        this.conn = conn;
        const rsp = await conn.call(this.request("AsyncWait"), { deadline: Date.now() + 60_000 });
        const refused = responseError(rsp, "AsyncWait");
        if (refused) {
          this.finish(refused);
          break;
        }
        if (registered) this.push({ type: "resync", reason: "reconnect" });
        registered = true;
        this.resolveReady();
        delay = initialDelay;
      } catch (err) {
        if (!isPortoError(err)) {
          this.finish(err);
          break;
        }
        if (this.ended) break;
        this.options.logger?.warn({ err: err.message, retryInMs: delay }, "porto events: cannot register, retrying");
        this.conn?.close();
        await this.sleep(delay);
        delay = Math.min(maxDelay, delay * 2);
        continue;
      }
      const reason = await closed;
      if (this.ended) break;
      this.options.onDisconnect?.(reason);
      this.options.logger?.warn({ reason: reason?.message }, "porto events: connection lost, re-registering");
    }
    this.conn?.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
