/**
 * From a CRI id (or unique prefix) to the Porto container that holds it.
 *
 * The streaming calls need only that, so they take this small interface. The
 * default implementation asks Porto, whose names are derived from the ids
 * (mapping/porto-names.ts): one `list` request per lookup, the same
 * prefix rules as every other call. `stateLocator` answers from the
 * lifecycle's records instead (no request, and only this shim's objects),
 * which is what main.ts wires.
 */
import type { PortoClient } from "../porto/client.js";
import { resolveIdPrefix } from "../mapping/ids.js";
import type { PrefixMatch } from "../mapping/ids.js";
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

/** The part of the lifecycle's RuntimeState a locator needs. */
export interface RecordsView {
  resolveContainer(idOrPrefix: string): PrefixMatch;
  resolvePod(idOrPrefix: string): PrefixMatch;
  container(id: string): { record: { podId: string } } | undefined;
}

/** Looks ids up in the lifecycle's records. */
export function stateLocator(state: RecordsView): ContainerLocator {
  return {
    async container(idOrPrefix) {
      const id = found("container", idOrPrefix, state.resolveContainer(idOrPrefix));
      const entry = state.container(id);
      if (!entry) throw new ExecError(`container ${JSON.stringify(idOrPrefix)} not found`, "not-found");
      return { id, portoName: containerPortoName(entry.record.podId, id) };
    },
    async pod(idOrPrefix) {
      const id = found("pod sandbox", idOrPrefix, state.resolvePod(idOrPrefix));
      return { id, portoName: podPortoName(id) };
    },
  };
}

function found(what: string, idOrPrefix: string, match: PrefixMatch): string {
  switch (match.kind) {
    case "found":
      return match.id;
    case "invalid":
      throw new ExecError(`${what} id: ${match.reason}`, "invalid");
    case "ambiguous":
      throw new ExecError(`${what} id prefix ${JSON.stringify(idOrPrefix)} is ambiguous`, "not-found");
    case "none":
      throw new ExecError(`${what} ${JSON.stringify(idOrPrefix)} not found`, "not-found");
  }
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
    const id = found(kind === "pod" ? "pod sandbox" : "container", idOrPrefix, resolveIdPrefix(idOrPrefix, byId.keys()));
    return { id, portoName: byId.get(id)! };
  };
  return { container: (id) => find("container", id), pod: (id) => find("pod", id) };
}
