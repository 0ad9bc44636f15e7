/**
 * What the shim keeps on disk per container log (Portoshim.StateDir/logs/<id>.json),
 * so a restart resumes exactly where the last one stopped. Pure.
 */
import type { CommittedFile } from "./log-file.js";
import type { LogStream } from "./cri-log-format.js";

/** What the lifecycle tells the log manager about a started container. */
export interface ContainerLogSpec {
  /** The CRI container id (64 hex). */
  containerId: string;
  /** Its full Porto name, `k8s-<pod id>/<container id>`. */
  portoName: string;
  /**
   * kubelet's file: PodSandboxConfig.log_directory joined with
   * ContainerConfig.log_path. Empty when either is empty: the output is then
   * not logged (as containerd does).
   */
  logPath: string;
  /** portod's stdout file; default <Porto work dir>/<portoName>/stdout (see porto-stdio.ts). */
  stdoutPath?: string;
  /** portod's stderr file; default <Porto work dir>/<portoName>/stderr. "" for none. */
  stderrPath?: string;
  /** stdoutPath is a terminal's output copied by its holder, not a portod file (see LogRecord.terminal). */
  terminal?: boolean;
}

/**
 * The log of a container started with a terminal (src/streaming/tty-holder.ts):
 * everything it shows is stdout, as with containerd, read from the file its
 * holder writes; there is no stderr.
 */
export function terminalLogSpec(outputPath: string): Pick<ContainerLogSpec, "stdoutPath" | "stderrPath" | "terminal"> {
  return { stdoutPath: outputPath, stderrPath: "", terminal: true };
}

/** Where the shim is in one of Porto's output streams. */
export interface StreamCursor {
  /**
   * Bytes of the stream that are in the CRI log (or were dropped on purpose),
   * counted from the container's start: a position in portod's file plus its
   * stdout_offset/stderr_offset. Bytes of an unfinished line are not counted
   * until the line is written.
   */
  pos: number;
  /** portod's stdout_offset/stderr_offset when last seen: bytes it dropped from the file's head. */
  portoOffset: number;
  /**
   * Set after bytes were lost to portod's rotation: portod overwrites the
   * rest of the line its cut went through with spaces, newline included, so
   * the file resumes with blanks running into the next line. Leading spaces
   * are skipped before the next line is written.
   */
  skipFragment: boolean;
}

export interface LogRecord {
  version: 1;
  containerId: string;
  portoName: string;
  logPath: string;
  stdoutPath: string;
  /** "" when the container has no separate stderr (a terminal). */
  stderrPath: string;
  /**
   * stdoutPath is written by a terminal holder rather than portod: the
   * bytes cut from its head, its limit and whether more output may come are
   * the holder's (ContainerLogContext.terminalFacts), while the container's
   * state is still Porto's. Absent in records of containers without one.
   */
  terminal?: boolean;
  stdout: StreamCursor;
  stderr: StreamCursor;
  /**
   * The CRI log file the cursors' lines went to, and its size once they were
   * written and fsynced. Anything beyond that size was written after the last
   * commit and is cut at recovery (the cursors will produce it again).
   */
  file: CommittedFile | null;
  /** The last timestamp written, ns since the epoch (decimal), so they never go back across restarts. */
  lastTimestampNs: string;
  /** The container ended and everything it wrote is in the log: nothing more will come. */
  final: boolean;
  /**
   * While the shim had raised the container's stdout_limit to catch up with
   * a burst: the limit to go back to. Null (or absent, in older records) when
   * the limit is the container's own.
   */
  raisedFrom?: number | null;
}

export const STREAMS: readonly LogStream[] = ["stdout", "stderr"];

export function newCursor(): StreamCursor {
  return { pos: 0, portoOffset: 0, skipFragment: false };
}

/** A record read back from disk, checked field by field; undefined when it is not one of ours. */
export function parseLogRecord(value: unknown): LogRecord | undefined {
  const r = value as Partial<LogRecord> | null;
  if (!r || typeof r !== "object" || r.version !== 1) return undefined;
  const str = (s: unknown) => typeof s === "string";
  if (!str(r.containerId) || !str(r.portoName) || !str(r.logPath) || !str(r.stdoutPath) || !str(r.stderrPath)) return undefined;
  if (!str(r.lastTimestampNs) || !/^\d+$/.test(r.lastTimestampNs!) || typeof r.final !== "boolean") return undefined;
  for (const c of [r.stdout, r.stderr]) {
    if (!c || !Number.isSafeInteger(c.pos) || !Number.isSafeInteger(c.portoOffset) || typeof c.skipFragment !== "boolean")
      return undefined;
  }
  if (r.raisedFrom !== undefined && r.raisedFrom !== null && !Number.isSafeInteger(r.raisedFrom)) return undefined;
  if (r.terminal !== undefined && typeof r.terminal !== "boolean") return undefined;
  const f = r.file;
  if (f !== null && (!f || !str(f.dev) || !str(f.ino) || !Number.isSafeInteger(f.size))) return undefined;
  return r as LogRecord;
}
