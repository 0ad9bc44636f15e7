/**
 * What the streaming RPCs (Exec, Attach, PortForward, ExecSync) need, and
 * the checks they share: find the container or pod (id or unique prefix),
 * make sure it runs, and turn backend errors into gRPC codes on purpose.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { PortoClient } from "../../porto/client.js";
import { ExecError } from "../../streaming/exec-backend.js";
import type { ExecBackend } from "../../streaming/exec-backend.js";
import type { ContainerLocator, Located } from "../../streaming/locator.js";
import type { StreamingUrls } from "../../streaming/server.js";

export interface StreamingDeps {
  /** URLs with one-time tokens (the streaming server). */
  streaming: StreamingUrls;
  /** Runs commands for ExecSync. */
  execBackend: ExecBackend;
  /** From CRI ids to Porto names. */
  locator: ContainerLocator;
  /** For the state checks. */
  porto: Pick<PortoClient, "get">;
}

/** ExecError reasons as gRPC codes. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof ExecError) {
    const code =
      err.reason === "not-found"
        ? Code.NotFound
        : err.reason === "invalid"
          ? Code.InvalidArgument
          : err.reason === "not-running"
            ? Code.FailedPrecondition
            : Code.Internal;
    return new ConnectError(err.message, code, undefined, undefined, err);
  }
  return new ConnectError(err instanceof Error ? err.message : String(err), Code.Internal, undefined, undefined, err);
}

/** The container `idOrPrefix` names, which must be running. */
export async function runningContainer(deps: StreamingDeps, idOrPrefix: string): Promise<Located> {
  if (idOrPrefix === "") throw new ConnectError("container_id: must not be empty", Code.InvalidArgument);
  try {
    const c = await deps.locator.container(idOrPrefix);
    await requireRunning(deps, c, "container");
    return c;
  } catch (err) {
    throw toConnectError(err);
  }
}

/** The pod sandbox `idOrPrefix` names, which must be ready. */
export async function runningPod(deps: StreamingDeps, idOrPrefix: string): Promise<Located> {
  if (idOrPrefix === "") throw new ConnectError("pod_sandbox_id: must not be empty", Code.InvalidArgument);
  try {
    const p = await deps.locator.pod(idOrPrefix);
    await requireRunning(deps, p, "pod sandbox");
    return p;
  } catch (err) {
    throw toConnectError(err);
  }
}

async function requireRunning(deps: StreamingDeps, target: Located, what: string): Promise<void> {
  const v = (await deps.porto.get([target.portoName], ["state"])).get(target.portoName)?.get("state");
  const state = v && "value" in v ? v.value : "unknown";
  // A pod whose containers run is `meta` when it has no command of its own.
  if (state !== "running" && state !== "meta") {
    throw new ExecError(`${what} ${target.id} is not running (Porto state ${state})`, "not-running");
  }
}

/** kubelet's rule for exec and attach: tty excludes stderr, and some stream is needed. */
export function validateStdio(req: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): void {
  if (req.tty && req.stderr) throw new ConnectError("tty and stderr cannot both be true", Code.InvalidArgument);
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw new ConnectError("one of stdin, stdout, or stderr must be set", Code.InvalidArgument);
  }
}
