/**
 * What Porto says about a container, turned into what CRI callers expect from
 * containerd: the state, the exit code (0-255, 128+N after signal N), the
 * reason (Completed, Error, OOMKilled, StartError) and the three times.
 *
 * Pure functions over a record and Porto's facts, so every rule has a table
 * test and no daemon is needed to check it.
 */
import { constants } from "node:os";
import { ContainerState, PodSandboxState } from "../../gen/runtime/v1/api_pb.js";
import type { ContainerRecord, PodRecord } from "./records.js";

/** What one ListContainersBy answer tells about a Porto container. */
export interface PortoFacts {
  /** stopped, starting, running, stopping, paused, meta, respawning, dead. */
  state: string;
  /** Porto's exit_code once dead: 0-255, -N for signal N, -99 for the OOM killer. */
  exitCode?: number;
  oomKilled?: boolean;
  /** Whole seconds since the epoch; 0 or absent when not started / not dead. */
  startTime?: number;
  deathTime?: number;
  /** Why Porto's last start failed, when it did. */
  startError?: string;
}

/** Porto's exit_code for "killed by the OOM killer". */
export const PORTO_OOM_EXIT_CODE = -99;
/** What containerd reports when the exit status is unknown. */
export const UNKNOWN_EXIT_CODE = 255;
/** What containerd reports for a process that never started. */
export const START_ERROR_EXIT_CODE = 128;

export const REASON_COMPLETED = "Completed";
export const REASON_ERROR = "Error";
export const REASON_OOM = "OOMKilled";
export const REASON_START_ERROR = "StartError";

/** CRI state, exit code, reason, message and times of one container. */
export interface ContainerFacts {
  state: ContainerState;
  exitCode: number;
  reason: string;
  message: string;
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
}

const RUNNING_STATES = new Set(["starting", "running", "stopping", "paused", "meta", "respawning"]);

/**
 * Porto's exit_code as a shell would report it: 128+N for signal N, 137 for
 * the OOM killer (it kills with SIGKILL).
 */
export function criExitCode(portoExitCode: number): number {
  if (portoExitCode === PORTO_OOM_EXIT_CODE) return 128 + constants.signals.SIGKILL;
  if (portoExitCode < 0) return 128 + -portoExitCode;
  return portoExitCode & 0xff;
}

/** The signal that ended the process, from Porto's exit_code; undefined for a normal exit. */
export function exitSignal(portoExitCode: number): number | undefined {
  if (portoExitCode === PORTO_OOM_EXIT_CODE) return constants.signals.SIGKILL;
  return portoExitCode < 0 ? -portoExitCode : undefined;
}

/** Name of signal `n` ("SIGTERM"), or "signal N". */
export function signalName(n: number): string {
  for (const [name, num] of Object.entries(constants.signals)) if (num === n) return name;
  return `signal ${n}`;
}

/**
 * The container as CRI sees it. `porto` undefined means Porto no longer has
 * the container although the record says it exists: someone removed it behind
 * the shim's back, and the honest answer is UNKNOWN.
 */
export function containerFacts(record: ContainerRecord, porto: PortoFacts | undefined): ContainerFacts {
  const createdAt = BigInt(record.createdAtNs);
  let startedAt = record.startedAtNs !== undefined ? BigInt(record.startedAtNs) : secondsNs(porto?.startTime);
  if (startedAt !== 0n && startedAt < createdAt) startedAt = createdAt;
  const base = { createdAt, startedAt, finishedAt: 0n, exitCode: 0, reason: "", message: "" };

  if (record.startError) {
    // The process never ran: exited at once, as containerd reports a failed start.
    const at = BigInt(record.startError.atNs);
    return {
      ...base,
      state: ContainerState.CONTAINER_EXITED,
      startedAt: 0n,
      finishedAt: at,
      exitCode: START_ERROR_EXIT_CODE,
      reason: REASON_START_ERROR,
      message: record.startError.message,
    };
  }
  if (porto === undefined) {
    return { ...base, state: ContainerState.CONTAINER_UNKNOWN, exitCode: UNKNOWN_EXIT_CODE, reason: "Unknown", message: "the Porto container is gone" };
  }
  if (RUNNING_STATES.has(porto.state)) return { ...base, state: ContainerState.CONTAINER_RUNNING };
  if (porto.state === "stopped" && startedAt === 0n) return { ...base, state: ContainerState.CONTAINER_CREATED };

  // Exited: dead in Porto, or stopped after having run (Porto reset it; the record may know the code).
  const finishedAt = maxNs(
    record.finishedAtNs !== undefined ? BigInt(record.finishedAtNs) : secondsNs(porto.deathTime),
    startedAt,
  );
  if (porto.state !== "dead" || porto.exitCode === undefined) {
    const code = record.exitCode ?? UNKNOWN_EXIT_CODE;
    return { ...base, state: ContainerState.CONTAINER_EXITED, finishedAt, exitCode: code, reason: code === 0 ? REASON_COMPLETED : REASON_ERROR };
  }
  const exitCode = criExitCode(porto.exitCode);
  const signal = exitSignal(porto.exitCode);
  if (porto.oomKilled || porto.exitCode === PORTO_OOM_EXIT_CODE) {
    return { ...base, state: ContainerState.CONTAINER_EXITED, finishedAt, exitCode, reason: REASON_OOM, message: "killed by the OOM killer" };
  }
  return {
    ...base,
    state: ContainerState.CONTAINER_EXITED,
    finishedAt,
    exitCode,
    reason: exitCode === 0 ? REASON_COMPLETED : REASON_ERROR,
    message: signal !== undefined ? `killed by ${signalName(signal)}` : "",
  };
}

/**
 * READY while the record says so and Porto keeps the pod's container up;
 * NOTREADY once stopped, or when the container died or vanished.
 */
export function podState(record: PodRecord, porto: PortoFacts | undefined): PodSandboxState {
  if (record.state !== "ready" || porto === undefined) return PodSandboxState.SANDBOX_NOTREADY;
  return porto.state === "meta" || porto.state === "running" || porto.state === "starting"
    ? PodSandboxState.SANDBOX_READY
    : PodSandboxState.SANDBOX_NOTREADY;
}

/** True while Porto runs the container's own process (kill and wait apply). */
export function isRunning(porto: PortoFacts | undefined): boolean {
  return porto !== undefined && RUNNING_STATES.has(porto.state);
}

function secondsNs(seconds: number | undefined): bigint {
  return seconds ? BigInt(seconds) * 1_000_000_000n : 0n;
}

function maxNs(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
