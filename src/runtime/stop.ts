/**
 * Stopping a container's process the way containerd does: the stop signal
 * goes to the container's own main process (Porto `kill`, no wrapper in
 * between), then Porto `wait` gives it the grace time, then SIGKILL. The
 * container ends `dead` in Porto, so its exit code and death time stay for
 * ContainerStatus; Porto `stop` would reset them, which is why it is only the
 * last resort when a process survives SIGKILL.
 */
import { constants } from "node:os";
import { EError } from "../../gen/rpc_pb.js";
import { isPortoError } from "../porto/errors.js";
import type { PortoClient } from "../porto/client.js";
import type { Logger } from "pino";

/** How long a SIGKILLed process may take to be reaped before Porto `stop` cleans up. */
export const KILL_WAIT_MS = 10_000;

export interface StopOutcome {
  /** How the process ended: "signal" (went with the stop signal), "killed", "stopped" (Porto stop), "gone" (ended by itself first). */
  how: "signal" | "killed" | "stopped" | "gone";
}

/**
 * Stops the running Porto container `name`: `signal`, up to `graceMs`, then
 * SIGKILL. Returns once it is no longer running. `graceMs` 0 kills at once.
 */
export async function stopProcess(
  porto: PortoClient,
  log: Logger,
  name: string,
  signal: number,
  graceMs: number,
): Promise<StopOutcome> {
  if (graceMs > 0 && signal !== constants.signals.SIGKILL) {
    if (!(await signalIfRunning(porto, name, signal))) return { how: "gone" };
    if (await waitEnded(porto, name, graceMs)) return { how: "signal" };
  }
  if (!(await signalIfRunning(porto, name, constants.signals.SIGKILL))) return { how: "gone" };
  if (await waitEnded(porto, name, KILL_WAIT_MS)) return { how: "killed" };
  // Unkillable (a task in D state, a frozen cgroup): let Porto tear the cgroup down.
  log.warn({ porto: name }, "process survived SIGKILL; stopping the Porto container");
  await porto.stop(name, 0);
  return { how: "stopped" };
}

/** Sends a signal; false when the container is no longer running (or gone), which is what stop wants anyway. */
async function signalIfRunning(porto: PortoClient, name: string, signal: number): Promise<boolean> {
  try {
    await porto.kill(name, signal);
    return true;
  } catch (err) {
    if (isPortoError(err, EError.InvalidState, EError.ContainerDoesNotExist)) return false;
    throw err;
  }
}

/** Waits up to `ms` for the container to die; true when it did (or is gone). */
async function waitEnded(porto: PortoClient, name: string, ms: number): Promise<boolean> {
  try {
    const answer = await porto.wait([name], ms);
    return answer.name !== "" && answer.state !== "timeout";
  } catch (err) {
    if (isPortoError(err, EError.ContainerDoesNotExist)) return true;
    throw err;
  }
}
