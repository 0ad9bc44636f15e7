/**
 * What the shim keeps about an image besides portod: the two things portod
 * cannot store. One record per image id, in Portoshim.StateDir/images/<id>.json
 * (the shared RecordStore: atomic replace, corrupt files set aside).
 *
 * - names: the CRI names users pulled, per portod name. portod stores
 *   docker.io images as mirror.gcr.io/...; without a record we report them as
 *   docker.io (what nearly everyone means), with one we report what was asked,
 *   so a pull of mirror.gcr.io/library/x:1 shows as that.
 * - digests: manifest digests learnt from the registry at pull time
 *   ("repo@sha256:..."), CRI's repo_digests. portod reports only the config
 *   digest (the image id).
 *
 * Porto is the truth: a record only adds to an image portod lists. Records of
 * images portod no longer has are dropped when noticed (list, status), and a
 * name whose portod name is gone is not reported.
 */
import { join } from "node:path";
import { RecordStore } from "../store/record-store.js";

export interface ImageRecord {
  /** portod name ("mirror.gcr.io/library/busybox:latest") → CRI names pulled under it. */
  names: Record<string, string[]>;
  /** "docker.io/library/busybox@sha256:<manifest digest>" each. */
  digests: string[];
}

export type ImageRecords = RecordStore<ImageRecord>;

/** `record` with `portoName → criName` and `digest` added; a new object, or the same one when nothing changed. */
export function withPull(record: ImageRecord | undefined, portoName: string, criName: string, digest: string | undefined): ImageRecord {
  const names = { ...(record?.names ?? {}) };
  const digests = [...(record?.digests ?? [])];
  let changed = record === undefined;
  const list = names[portoName] ?? [];
  if (!list.includes(criName)) {
    names[portoName] = [...list, criName].sort();
    changed = true;
  }
  if (digest !== undefined && !digests.includes(digest)) {
    digests.push(digest);
    digests.sort();
    changed = true;
  }
  return changed || !record ? { names, digests } : record;
}

/** `record` without names portod no longer lists for the image; undefined when nothing is left worth keeping. */
export function prune(record: ImageRecord, portoNames: readonly string[]): ImageRecord | undefined {
  const names = Object.fromEntries(Object.entries(record.names).filter(([n]) => portoNames.includes(n)));
  if (Object.keys(names).length === 0 && record.digests.length === 0) return undefined;
  return { names, digests: record.digests };
}

/** Opens (and loads) the records in `<stateDir>/images`; unreadable files are set aside and logged. */
export async function openImageRecords(stateDir: string, onCorrupt: (file: string, err: Error) => void): Promise<ImageRecords> {
  const records = new RecordStore<ImageRecord>({ dir: join(stateDir, "images"), onCorrupt });
  await records.load();
  return records;
}
