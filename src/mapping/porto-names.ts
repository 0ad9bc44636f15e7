/**
 * Porto container names of CRI objects. Both are derived from the CRI id alone,
 * so no lookup is needed to go from an id to a Porto name and back:
 *
 *   pod sandbox   k8s-<pod id>                 (68 bytes)
 *   container     k8s-<pod id>/<container id>  (133 bytes)
 *
 * Porto allows 128 bytes a component and 200 a path (PORTO.md), so both fit.
 * Every shim container lives under a `k8s-` top-level name and carries the
 * CRI.managed label; anything else on the node is not ours and never touched.
 */
import { isFullId } from "./ids.js";

export const POD_PREFIX = "k8s-";
/** Label on every Porto container the shim creates. */
export const MANAGED_LABEL = "CRI.managed";
/** Its value; a different value would be another tool's container. */
export const MANAGED_VALUE = "portoshim";

/** Masks for one `list`/ListContainersBy request that finds every shim container. */
export const POD_MASK = `${POD_PREFIX}*`;
export const CONTAINER_MASK = `${POD_PREFIX}*/*`;

export function podPortoName(podId: string): string {
  return `${POD_PREFIX}${podId}`;
}

export function containerPortoName(podId: string, containerId: string): string {
  return `${POD_PREFIX}${podId}/${containerId}`;
}

export type ParsedName =
  | { kind: "pod"; podId: string }
  | { kind: "container"; podId: string; containerId: string }
  | { kind: "foreign" };

/** Reads a Porto name back into CRI ids; `foreign` for names the shim did not make. */
export function parsePortoName(name: string): ParsedName {
  if (!name.startsWith(POD_PREFIX)) return { kind: "foreign" };
  const parts = name.slice(POD_PREFIX.length).split("/");
  if (parts.length === 1 && isFullId(parts[0])) return { kind: "pod", podId: parts[0] };
  if (parts.length === 2 && isFullId(parts[0]) && isFullId(parts[1])) {
    return { kind: "container", podId: parts[0], containerId: parts[1] };
  }
  return { kind: "foreign" };
}
