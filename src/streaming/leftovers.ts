/**
 * The start-up sweep shared by the terminal holders and the stdin keepers:
 * both keep per-container files (and a process) in a directory of their own
 * that outlives the shim, named after the container id.
 */
import { readdirSync } from "node:fs";

/**
 * Releases every container whose files are in `dir` (`pattern`'s first group
 * is the id) and that `exists` says is gone; asked at the moment of each
 * decision, so containers created meanwhile are safe. Returns the ids
 * released; a missing directory means nothing was ever made.
 */
export function releaseGone(dir: string, pattern: RegExp, exists: (containerId: string) => boolean, release: (containerId: string) => void): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const ids = new Set(names.map((n) => pattern.exec(n)?.[1]).filter((id): id is string => id !== undefined));
  const released: string[] = [];
  for (const id of ids) {
    if (exists(id)) continue;
    release(id);
    released.push(id);
  }
  return released;
}
