/**
 * A deliberately small Porto client for the contract suite: raw framed
 * requests, one at a time, and AsyncWait pushes routed aside. It does not use
 * src/porto so the contracts test the daemon, not our client.
 */
import { connect, type Socket } from "node:net";
import { create, fromBinary, isFieldSet, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  EError,
  TContainerRequestSchema,
  TContainerResponseSchema,
  type TContainerResponse,
  type TContainerWaitResponse,
} from "../../../gen/rpc_pb.js";
import { frame, FrameReader } from "../../../src/porto/framing.js";

export type Request = MessageInitShape<typeof TContainerRequestSchema>;

/** A reply with its error code, for assertions that want the code by name. */
export class PortoCallError extends Error {
  constructor(
    readonly code: EError,
    readonly errorMsg: string,
    readonly response: TContainerResponse,
  ) {
    super(`${EError[code] ?? code}: ${errorMsg}`);
  }
}

/** Everything received on a connection, in order: replies and pushes. */
export type Received = { kind: "reply" | "push"; response: TContainerResponse };

export class RawPorto {
  /** AsyncWait pushes not yet taken. */
  readonly pushes: TContainerWaitResponse[] = [];
  /** Every message in arrival order, to check where pushes fell relative to replies. */
  readonly log: Received[] = [];
  private readonly reader = new FrameReader();
  private readonly replies: TContainerResponse[] = [];
  private waiters: Array<() => void> = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk) => {
      for (const msg of this.reader.push(chunk)) {
        const rsp = fromBinary(TContainerResponseSchema, msg);
        if (rsp.AsyncWait) {
          this.pushes.push(rsp.AsyncWait);
          this.log.push({ kind: "push", response: rsp });
        } else {
          this.replies.push(rsp);
          this.log.push({ kind: "reply", response: rsp });
        }
      }
      this.wake();
    });
    socket.on("close", () => {
      this.closedError ??= new Error("connection closed");
      this.wake();
    });
    socket.on("error", (e) => {
      this.closedError = e;
      this.wake();
    });
  }

  static connect(path: string): Promise<RawPorto> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once("connect", () => resolve(new RawPorto(s)));
      s.once("error", reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until<T>(take: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      if (this.closedError) throw this.closedError;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends bytes as one frame (for malformed-request contracts). */
  sendFrame(payload: Uint8Array): void {
    this.socket.write(frame(payload));
  }

  /** Sends a request and returns its reply, whatever the error code. */
  async raw(req: Request, timeoutMs = 10_000): Promise<TContainerResponse> {
    this.sendFrame(toBinary(TContainerRequestSchema, create(TContainerRequestSchema, req)));
    return this.nextReply(timeoutMs);
  }

  nextReply(timeoutMs = 10_000): Promise<TContainerResponse> {
    return this.until(() => this.replies.shift(), timeoutMs, "a reply");
  }

  /** Sends a request; throws PortoCallError unless the reply says Success. */
  async call(req: Request, timeoutMs = 10_000): Promise<TContainerResponse> {
    const rsp = await this.raw(req, timeoutMs);
    if (rsp.error !== EError.Success) throw new PortoCallError(rsp.error, rsp.errorMsg, rsp);
    return rsp;
  }

  /** The error code a request fails with (Success if it does not fail). */
  async code(req: Request): Promise<EError> {
    return (await this.raw(req)).error;
  }

  nextPush(timeoutMs = 10_000): Promise<TContainerWaitResponse> {
    return this.until(() => this.pushes.shift(), timeoutMs, "an AsyncWait push");
  }

  /** Waits for a push that satisfies `pred`, discarding others. */
  async pushWhere(pred: (p: TContainerWaitResponse) => boolean, timeoutMs = 10_000): Promise<TContainerWaitResponse> {
    return this.until(
      () => {
        while (this.pushes.length) {
          const p = this.pushes.shift()!;
          if (pred(p)) return p;
        }
        return undefined;
      },
      timeoutMs,
      "a matching AsyncWait push",
    );
  }

  // ---- conveniences for the common calls ----

  async get(name: string, property: string): Promise<string> {
    return (await this.call({ getProperty: { name, property } })).getProperty!.value;
  }

  async set(name: string, property: string, value: string): Promise<void> {
    await this.call({ setProperty: { name, property, value } });
  }

  /** Sync wait for the container to become dead/stopped; returns the state. */
  async waitFor(name: string, timeoutMs = 10_000): Promise<string> {
    const rsp = await this.call({ wait: { name: [name], timeoutMs } }, timeoutMs + 5000);
    return rsp.wait!.state;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once("close", () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}

/** True when the response has the given top-level field set (presence, not value). */
export function hasField(rsp: TContainerResponse, localName: keyof typeof TContainerResponseSchema.field): boolean {
  return isFieldSet(rsp, TContainerResponseSchema.field[localName]);
}
