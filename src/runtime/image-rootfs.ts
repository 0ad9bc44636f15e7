/**
 * What an image's root filesystem holds, read from the layers portod keeps
 * unpacked in its store, so the mapping can look up user and group names in
 * the image's own /etc/passwd and /etc/group (containerd's rule, never the
 * host's) and create what the image lacks (a working directory, mount points
 * of a read-only root) before portod starts the container.
 *
 * Layout (portod 5.3.59): <imagesDir>/v1/images/<id[0:2]>/<id>/manifest.json
 * lists the layers bottom first; a layer's files are in
 * <imagesDir>/v1/layers/blobs/<digest[0:2]>/<digest>/content. The image is
 * the overlay of those directories, top first, with OCI whiteouts (`.wh.name`
 * hides `name` below; `.wh..wh..opq` hides a whole directory below).
 */
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { RootfsEntry } from "../mapping/container-paths.js";

export interface ImageRootfs {
  exists(path: string): boolean;
  /** lstat of the copy the container sees, for a path whose parents are real directories of the image. */
  entry(path: string): RootfsEntry | undefined;
  passwd?: string;
  group?: string;
}

/**
 * The root filesystem of image `imageId` ("sha256:<hex>" or hex), or
 * undefined when portod's store does not have it unpacked as expected (the
 * mapping then does less rather than guess).
 */
export function imageRootfs(imagesDir: string, imageId: string): ImageRootfs | undefined {
  const id = imageId.replace(/^sha256:/, "");
  if (!/^[0-9a-f]{64}$/.test(id)) return undefined;
  let layers: string[];
  try {
    const manifest = JSON.parse(readFileSync(join(imagesDir, "v1", "images", id.slice(0, 2), id, "manifest.json"), "utf8")) as {
      layers?: Array<{ digest?: string }>;
    };
    layers = (manifest.layers ?? []).map((l) => String(l.digest ?? "").replace(/^sha256:/, "")).reverse();
  } catch {
    return undefined;
  }
  if (layers.length === 0 || layers.some((d) => !/^[0-9a-f]{64}$/.test(d))) return undefined;
  const dirs = layers.map((d) => join(imagesDir, "v1", "layers", "blobs", d.slice(0, 2), d, "content"));
  if (!dirs.every((d) => existsSync(d))) return undefined;

  /** The layer directory whose copy of `path` is the one the container sees, if any. */
  const find = (path: string, present: (p: string) => boolean = existsSync): string | undefined => {
    const rel = path.replace(/^\/+/, "");
    if (rel === "") return dirs[0];
    const parts = rel.split("/");
    for (const dir of dirs) {
      if (present(join(dir, rel))) return dir;
      // Not in this layer; hidden from the layers below by a whiteout of it or of a parent,
      // or by an opaque parent directory.
      for (let i = 0; i < parts.length; i++) {
        const parent = parts.slice(0, i).join("/");
        if (existsSync(join(dir, parent, `.wh.${parts[i]}`))) return undefined;
        if (i > 0 && existsSync(join(dir, parent, ".wh..wh..opq"))) return undefined;
      }
    }
    return undefined;
  };
  const read = (path: string): string | undefined => {
    const dir = find(path);
    if (dir === undefined) return undefined;
    try {
      return readFileSync(join(dir, path), "utf8");
    } catch {
      return undefined;
    }
  };
  const lstat = (p: string) => {
    try {
      return lstatSync(p, { throwIfNoEntry: false });
    } catch {
      return undefined; // ENOTDIR: a file where a parent directory would be
    }
  };
  const entry = (path: string): RootfsEntry | undefined => {
    const dir = find(path, (p) => lstat(p) !== undefined);
    if (dir === undefined) return undefined;
    const full = join(dir, path);
    const st = lstat(full);
    if (!st) return undefined;
    if (st.isSymbolicLink()) return { type: "symlink", target: readlinkSync(full, "utf8") };
    return { type: st.isDirectory() ? "directory" : "file" };
  };
  return {
    exists: (path) => find(path) !== undefined,
    entry,
    passwd: read("/etc/passwd"),
    group: read("/etc/group"),
  };
}

/** For tests: the layer content directory of `digest` in `imagesDir`. */
export function layerContentDir(imagesDir: string, digest: string): string {
  const d = digest.replace(/^sha256:/, "");
  return join(imagesDir, "v1", "layers", "blobs", d.slice(0, 2), d, "content");
}
