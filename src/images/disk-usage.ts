/**
 * Disk usage of a directory tree, as `du -x` counts it: allocated blocks and
 * inodes of everything below the directory on its own filesystem, each inode
 * once (portod hard-links every layer archive into each image that uses it),
 * never crossing into mounts (a container's root volume mounted below is its
 * own filesystem's business).
 *
 * ImageFsInfo needs the image store's own usage, not its filesystem's (the
 * store usually shares /place with everything else); statfs cannot give that,
 * so the tree is walked. kubelet asks every few seconds, so results are
 * cached for a short while and one walk serves every caller meanwhile.
 */
import { lstat, opendir } from "node:fs/promises";
import { join } from "node:path";

export interface DiskUsage {
  /** Allocated bytes (st_blocks × 512). */
  bytes: bigint;
  inodes: bigint;
  /** When the walk finished, Unix nanoseconds. */
  timestampNs: bigint;
  /** Device of the directory; undefined when it does not exist. */
  dev?: bigint;
}

/** Entries stat'ed at once while walking one directory. */
const BATCH = 64;

/** Walks `dir`; a missing directory uses nothing. Files vanishing meanwhile are skipped. */
export async function measureDir(dir: string): Promise<DiskUsage> {
  let root;
  try {
    root = await lstat(dir, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { bytes: 0n, inodes: 0n, timestampNs: nowNs() };
    throw err;
  }
  const dev = root.dev;
  const seen = new Set<bigint>([root.ino]);
  let bytes = root.blocks * 512n;
  let inodes = 1n;
  const stack: string[] = root.isDirectory() ? [dir] : [];
  while (stack.length > 0) {
    const current = stack.pop()!;
    let names: string[];
    try {
      names = [];
      for await (const e of await opendir(current)) names.push(e.name);
    } catch {
      continue; // removed (or unreadable) meanwhile
    }
    for (let i = 0; i < names.length; i += BATCH) {
      const stats = await Promise.all(
        names.slice(i, i + BATCH).map(async (n) => {
          const path = join(current, n);
          try {
            return { path, st: await lstat(path, { bigint: true }) };
          } catch {
            return undefined;
          }
        }),
      );
      for (const s of stats) {
        if (!s || s.st.dev !== dev || seen.has(s.st.ino)) continue;
        seen.add(s.st.ino);
        bytes += s.st.blocks * 512n;
        inodes++;
        if (s.st.isDirectory()) stack.push(s.path);
      }
    }
  }
  return { bytes, inodes, timestampNs: nowNs(), dev };
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** {@link measureDir} with a time-to-live: one walk at a time, its result reused until it is `ttlMs` old. */
export class CachedDiskUsage {
  private last: { at: number; usage: DiskUsage } | undefined;
  private running: Promise<DiskUsage> | undefined;

  constructor(
    readonly dir: string,
    private readonly ttlMs: number,
    private readonly measure: (dir: string) => Promise<DiskUsage> = measureDir,
  ) {}

  get(): Promise<DiskUsage> {
    if (this.last && Date.now() - this.last.at < this.ttlMs) return Promise.resolve(this.last.usage);
    if (!this.running) {
      this.running = this.measure(this.dir)
        .then((usage) => {
          this.last = { at: Date.now(), usage };
          return usage;
        })
        .finally(() => {
          this.running = undefined;
        });
    }
    return this.running;
  }
}
