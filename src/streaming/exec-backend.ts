/**
 * What the streaming server needs from the runtime: run a command in a
 * container, attach to a container's main process, open a TCP connection in a
 * pod's network namespace. The protocols (SPDY, WebSocket, every channel
 * version) live elsewhere and only move bytes; porto-exec.ts implements this
 * on Porto, tests use small fakes.
 */
import type { Duplex, Readable, Writable } from "node:stream";

/** A terminal size as kubelet's resize stream sends it. */
export interface TerminalSize {
  width: number;
  height: number;
}

/** The client's side of a session. */
export interface StdioStreams {
  /** Allocate a terminal: stdout carries both output streams, resize applies. */
  tty: boolean;
  /** Bytes from the client; ends when the client half-closes stdin. Absent: the process gets /dev/null. */
  stdin?: Readable;
  /** Where the process' stdout (or the terminal) goes. The backend ends it once output is complete. */
  stdout?: Writable;
  /** Where stderr goes (never with tty). The backend ends it once output is complete. */
  stderr?: Writable;
  /** Terminal size changes, first one included; ends with the session. */
  resize?: AsyncIterable<TerminalSize>;
  /** Aborts when the client goes away: the process is killed (exec) or the attachment dropped (attach). */
  signal: AbortSignal;
}

/** Why a command could not be run at all (as opposed to running and failing). */
export class ExecError extends Error {
  override name = "ExecError";
  constructor(
    message: string,
    /** A gRPC-ish reason: `not-found` (no such container), `not-running`, `internal`. */
    readonly reason: "not-found" | "not-running" | "invalid" | "internal" = "internal",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ExecBackend {
  /**
   * Runs `argv` inside the container and resolves with its exit code (0-255;
   * 128+N when killed by signal N) once it has exited and its output has been
   * written out completely. No time limit. When `io.signal` aborts, the process
   * is killed and the promise settles. Rejects with ExecError when the command
   * could not be started.
   */
  exec(containerId: string, argv: string[], io: StdioStreams): Promise<number>;
  /**
   * Connects to the container's main process until the client leaves
   * (`io.signal`), stdin ends for a stdin_once container, or the process exits.
   * Detaching leaves the process running.
   */
  attach(containerId: string, io: StdioStreams): Promise<void>;
  /**
   * Connects `stream` with TCP port `port` on the loopback of the pod's network
   * namespace, in both directions, half-closes included, and resolves when both
   * directions have ended. Rejects (with a message for the client) when the
   * connection cannot be made; the stream is then left to the caller.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void>;
}
