/**
 * From a CRI id (or unique prefix) to the Porto container that holds it.
 *
 * The streaming calls need only that, so they take this small interface. The
 * default implementation asks Porto, whose names are derived from the ids
 * (mapping/porto-names.ts): one `list` request per lookup, the same
 * prefix rules as every other call. The lifecycle's in-memory runtime state
 * can implement it too (requireContainer/requirePod plus containerPortoName)
 * and save that request.
 */
import type { PortoClient } from "../porto/client.js";
import { resolveIdPrefix } from "../mapping/ids.js";
import { CONTAINER_MASK, POD_MASK, containerPortoName, parsePortoName, podPortoName } from "../mapping/porto-names.js";
import { ExecError } from "./exec-backend.js";

export interface Located {
  /** The full id. */
  id: string;
  /** The Porto container's name. */
  portoName: string;
}

export interface ContainerLocator {
  /** A container by id or unique prefix; rejects with ExecError `not-found` (or `invalid`). */
  container(idOrPrefix: string): Promise<Located>;
  /** A pod sandbox by id or unique prefix; rejects like `container`. */
  pod(idOrPrefix: string): Promise<Located>;
}

/** Looks ids up in Porto's list of the shim's containers. */
export function portoLocator(porto: Pick<PortoClient, "list">): ContainerLocator {
  const find = async (kind: "container" | "pod", idOrPrefix: string): Promise<Located> => {
    const names = await porto.list(kind === "pod" ? POD_MASK : CONTAINER_MASK);
    const byId = new Map<string, string>();
    for (const name of names) {
      const parsed = parsePortoName(name);
      if (kind === "pod" && parsed.kind === "pod") byId.set(parsed.podId, podPortoName(parsed.podId));
      if (kind === "container" && parsed.kind === "container") {
        byId.set(parsed.containerId, containerPortoName(parsed.podId, parsed.containerId));
      }
    }
    const what = kind === "pod" ? "pod sandbox" : "container";
    const match = resolveIdPrefix(idOrPrefix, byId.keys());
    switch (match.kind) {
      case "found":
        return { id: match.id, portoName: byId.get(match.id)! };
      case "invalid":
        throw new ExecError(`${what} id: ${match.reason}`, "invalid");
      case "ambiguous":
        throw new ExecError(`${what} id prefix ${JSON.stringify(idOrPrefix)} is ambiguous`, "not-found");
      case "none":
        throw new ExecError(`${what} ${JSON.stringify(idOrPrefix)} not found`, "not-found");
    }
  };
  return { container: (id) => find("container", id), pod: (id) => find("pod", id) };
}
