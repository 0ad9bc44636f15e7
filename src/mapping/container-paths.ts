/**
 * What a path inside a container will be when it starts, and which host path
 * Porto can bind from to reach the same object, worked out before the
 * container exists (for masked and read-only paths, security.ts).
 *
 * Porto's `bind` takes its source in the parent's namespace, which for a pod
 * (root "/") is the host's, and resolves the target inside the container's
 * root (portod 5.3.59, TBindMount::Mount, filesystem.cpp). So a path of the
 * container is reached from the host through whatever provides it:
 *
 *   /proc, /sys       mounted by portod in the container's namespaces; the
 *                     host's view tells what exists there (the host facts).
 *                     At bind time the mount namespace's /proc is already the
 *                     container's own procfs, so a source "/proc/x" is the
 *                     container's /proc/x (seen on 5.3.59: /proc/1/comm bound
 *                     that way reads "portoinit", the host's reads otherwise).
 *   /dev, /run        tmpfs mounts portod makes at start: unknown here.
 *   a CRI bind mount  its host_path: `<host_path>/<rest>`.
 *   an image volume   built by portod at creation: unknown here.
 *   anything else     the root volume: the image as the caller reads it from
 *                     portod's layers, and on the host `<root volume>/<path>`
 *                     (portod mounts the overlay there, and mounts image
 *                     volume links into that tree too).
 *
 * Symlinks in the image are followed inside the image (as the container will
 * see them), never on the host: a host path built from an image path must not
 * follow an absolute symlink out of the root volume.
 */
import { posix } from "node:path";

/** One entry of the image's root filesystem, as lstat(2) sees it (a final symlink is not followed). */
export type RootfsEntry = { type: "directory" } | { type: "file" } | { type: "symlink"; target: string };

/** The image's root filesystem as the caller can read it (e.g. portod's unpacked layers). */
export interface ImageFs {
  /** The entry at an absolute path whose parent directories are real directories of the image; undefined when missing. */
  entry(path: string): RootfsEntry | undefined;
}

/** Symlinks followed in one lookup, as Linux's MAXSYMLINKS. */
const MAX_LINKS = 40;

/**
 * `path` with every symlink followed inside the image (an absolute target
 * starts again at the image's root, ".." stops at the root): the real path
 * and whether it is a directory. undefined when it does not exist, goes
 * through a file, or loops.
 */
export function resolveInImage(fs: ImageFs, path: string): { path: string; directory: boolean } | undefined {
  const todo = path.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let links = 0;
  let directory = true;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (!directory) return undefined; // a component below a file
    if (name === "..") {
      done.pop();
      continue;
    }
    const here = "/" + [...done, name].join("/");
    const e = fs.entry(here);
    if (e === undefined) return undefined;
    if (e.type === "symlink") {
      if (++links > MAX_LINKS) return undefined;
      if (e.target.startsWith("/")) done.length = 0;
      todo.unshift(...e.target.split("/").filter((c) => c !== "" && c !== "."));
      continue;
    }
    done.push(name);
    directory = e.type === "directory";
  }
  return { path: "/" + done.join("/"), directory };
}

/** What the container's filesystem is made of, for `locate`. */
export interface ContainerFs {
  /** The image, when the caller could read it. */
  image?: ImageFs;
  /** Where the root volume is mounted on the host, when the caller chose it. */
  rootVolumePath?: string;
  /** CRI bind mounts: container path (normalized) and host source. */
  binds: readonly { target: string; source: string }[];
  /** Targets of image volumes (normalized). */
  volumes: readonly string[];
}

/** Which mount provides a container path. */
export type PathOrigin =
  /** /proc or /sys (or below): the host's view tells. */
  | { kind: "proc" | "sys" }
  /** Below a CRI bind mount: the same object on the host. */
  | { kind: "bind"; hostPath: string }
  /** In the root volume: `path` as the image has it. */
  | { kind: "root" }
  /** Something portod or a volume provides at start that cannot be looked at now. */
  | { kind: "unknown"; what: string };

const within = (p: string, dir: string) => p === dir || dir === "/" || p.startsWith(dir + "/");

/** The mount that provides `path` (absolute, normalized): the deepest one containing it. */
export function locate(path: string, fs: ContainerFs): PathOrigin {
  let best: { depth: number; origin: PathOrigin } = { depth: 0, origin: { kind: "root" } };
  const consider = (dir: string, origin: () => PathOrigin) => {
    if (!within(path, dir)) return;
    const depth = dir.split("/").length;
    // Later CRI mounts of the same path are mounted over earlier ones: >= keeps the last.
    if (depth >= best.depth) best = { depth, origin: origin() };
  };
  consider("/proc", () => ({ kind: "proc" }));
  consider("/sys", () => ({ kind: "sys" }));
  consider("/dev", () => ({ kind: "unknown", what: "portod's /dev" }));
  consider("/run", () => ({ kind: "unknown", what: "portod's /run" }));
  for (const v of fs.volumes) consider(v, () => ({ kind: "unknown", what: `the image volume at ${v}` }));
  for (const b of fs.binds) consider(b.target, () => ({ kind: "bind", hostPath: posix.join(b.source, posix.relative(b.target, path)) }));
  return best.origin;
}
