/**
 * Finding the pod or container a call names, by full id or unique prefix
 * (crictl passes 13 characters), with the gRPC codes kubelet and crictl
 * expect: status and start calls answer NotFound for an id they do not know
 * or an ambiguous prefix; stop and remove calls treat an unknown id as
 * already gone (kubelet retries them), but still refuse an ambiguous prefix
 * rather than guess which object to destroy.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { ContainerEntry, PodEntry, RuntimeState } from "./runtime-state.js";

/** The request field an id came in, for messages ("pod_sandbox_id"). */
type Field = string;

export function invalidArgument(field: Field, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

export function requirePod(state: RuntimeState, idOrPrefix: string, field: Field = "pod_sandbox_id"): PodEntry {
  const match = state.resolvePod(idOrPrefix);
  switch (match.kind) {
    case "found":
      return state.pod(match.id)!;
    case "invalid":
      throw invalidArgument(field, match.reason);
    case "ambiguous":
      throw new ConnectError(
        `pod sandbox id prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${match.candidates.length} pod sandboxes`,
        Code.NotFound,
      );
    case "none":
      throw new ConnectError(`pod sandbox ${JSON.stringify(idOrPrefix)} not found`, Code.NotFound);
  }
}

export function requireContainer(state: RuntimeState, idOrPrefix: string, field: Field = "container_id"): ContainerEntry {
  const match = state.resolveContainer(idOrPrefix);
  switch (match.kind) {
    case "found":
      return state.container(match.id)!;
    case "invalid":
      throw invalidArgument(field, match.reason);
    case "ambiguous":
      throw new ConnectError(
        `container id prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${match.candidates.length} containers`,
        Code.NotFound,
      );
    case "none":
      throw new ConnectError(`container ${JSON.stringify(idOrPrefix)} not found`, Code.NotFound);
  }
}

/** For stop and remove: the pod's id, or undefined when there is no such pod (already gone). */
export function podIdForTeardown(state: RuntimeState, idOrPrefix: string): string | undefined {
  const match = state.resolvePod(idOrPrefix);
  if (match.kind === "found") return match.id;
  if (match.kind === "none") return undefined;
  if (match.kind === "invalid") throw invalidArgument("pod_sandbox_id", match.reason);
  throw new ConnectError(
    `pod sandbox id prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${match.candidates.length} pod sandboxes; give more of the id`,
    Code.InvalidArgument,
  );
}

export function containerIdForTeardown(state: RuntimeState, idOrPrefix: string): string | undefined {
  const match = state.resolveContainer(idOrPrefix);
  if (match.kind === "found") return match.id;
  if (match.kind === "none") return undefined;
  if (match.kind === "invalid") throw invalidArgument("container_id", match.reason);
  throw new ConnectError(
    `container id prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${match.candidates.length} containers; give more of the id`,
    Code.InvalidArgument,
  );
}

/** Lock keys: pods and containers never share one. */
export function podLockKey(podId: string): string {
  return `pod:${podId}`;
}

export function containerLockKey(containerId: string): string {
  return `ctr:${containerId}`;
}
