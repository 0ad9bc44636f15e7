/**
 * CRI namespace modes on Porto. Porto has no per-namespace switches for
 * processes: `isolate=true` gives a container new pid, ipc and uts
 * namespaces together (nested in its parent's), `isolate=false` shares all
 * three with its parent; the network is chosen apart with `net`. So:
 *
 *   pod (meta container)  isolate=true: pid, ipc and uts of its own, held
 *                         by portoinit, which Porto runs for a meta container
 *                         with namespaces; isolate=false for hostPID/hostIPC.
 *   container, pid POD    isolate=false: the pod's pid, ipc and uts.
 *   container, pid CONTAINER  isolate=true: a pid namespace nested in the pod's,
 *                         and with it an IPC namespace of its own (see below).
 *   container, pid TARGET isolate=false: the pod's pid namespace, which
 *                         contains the target's nested one, so its processes
 *                         are visible (and the other containers' too).
 *   NODE (hostPID or hostIPC)  the pod and its containers share the host's pid,
 *                         ipc namespaces: Porto cannot give one without the other.
 *
 * What Porto cannot do, and what happens instead (checked on portod 5.3.59):
 * - ipc POD with pid CONTAINER (kubelet's default): each container gets its
 *   own IPC namespace, so System V IPC is not shared between the pod's
 *   containers (POSIX shm in /dev/shm is per container as well, Porto mounts
 *   it). IPC sysctls set on the pod are copied to such containers.
 * - hostPID without hostIPC, or hostIPC without hostPID: both become the host's.
 * - uts: the pod's hostname reaches every container (isolate=true copies it).
 * - user namespaces (userns_options mode POD): not supported.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { NamespaceMode } from "../../gen/runtime/v1/api_pb.js";
import type { NamespaceOption } from "../../gen/runtime/v1/api_pb.js";

export interface PodNamespaces {
  /** Porto `isolate` of the pod container. */
  isolate: boolean;
  hostNetwork: boolean;
  /** pid or ipc is NODE: the pod shares the host's pid and ipc namespaces. */
  hostPidIpc: boolean;
}

/** Refuses user namespaces, which Porto's containers here cannot have as kubelet means them. */
function checkUserNamespace(ns: NamespaceOption | undefined, field: string): void {
  const u = ns?.usernsOptions;
  if (u && u.mode === NamespaceMode.POD && (u.uids.length > 0 || u.gids.length > 0))
    throw new ConnectError(`${field}.userns_options: user namespaces are not supported on Porto`, Code.Unimplemented);
}

export function podNamespaces(ns: NamespaceOption | undefined): PodNamespaces {
  checkUserNamespace(ns, "linux.security_context.namespace_options");
  const hostPidIpc = ns?.pid === NamespaceMode.NODE || ns?.ipc === NamespaceMode.NODE;
  return { isolate: !hostPidIpc, hostNetwork: ns?.network === NamespaceMode.NODE, hostPidIpc };
}

/**
 * Porto `isolate` of a container in a pod with namespace options `pod`:
 * true only for its own pid namespace inside an isolated pod.
 */
export function containerIsolate(pod: NamespaceOption | undefined, ctr: NamespaceOption | undefined): boolean {
  checkUserNamespace(ctr, "linux.security_context.namespace_options");
  if (!podNamespaces(pod).isolate) return false;
  if (ctr?.ipc === NamespaceMode.NODE || ctr?.pid === NamespaceMode.NODE) return false;
  if (ctr?.pid === NamespaceMode.TARGET && ctr.targetId === "")
    throw new ConnectError("linux.security_context.namespace_options.target_id: required for pid mode TARGET", Code.InvalidArgument);
  // An absent option reads as POD, the enum's zero, as it does in containerd.
  return (ctr?.pid ?? NamespaceMode.POD) === NamespaceMode.CONTAINER;
}
