/**
 * The node as the mapping needs to see it (src/mapping/host-facts.ts): the
 * mapping does no I/O, so the lifecycle answers its questions from the host's
 * filesystem. Reads are synchronous and small (a stat, a profile file); the
 * device list is read once, when a privileged container or a device
 * directory first asks for it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostFacts } from "../mapping/host-facts.js";

/** CAP_SYS_RESOURCE: without it the kernel refuses to lower oom_score_adj below 0. */
const CAP_SYS_RESOURCE = 24n;

/**
 * Host facts for containers whose root volumes live in `volumesDir`: the
 * empty file and directory the mapping binds or links live there too (a hard
 * link needs the same filesystem as the volume), made here if missing.
 */
export function hostFacts(volumesDir: string): HostFacts {
  mkdirSync(volumesDir, { recursive: true, mode: 0o755 });
  const emptyFile = join(volumesDir, ".empty");
  const emptyDir = join(volumesDir, ".empty-dir");
  if (!existsSync(emptyFile)) writeFileSync(emptyFile, "", { mode: 0o444 });
  mkdirSync(emptyDir, { recursive: true, mode: 0o555 });
  let devices: string[] | undefined;
  return {
    exists: (path) => existsSync(path),
    isDirectory: (path) => {
      try {
        return statSync(path).isDirectory();
      } catch {
        return false;
      }
    },
    readFile: (path) => {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return undefined;
      }
    },
    get devices() {
      return (devices ??= listDevices("/dev"));
    },
    emptyFile,
    emptyDir,
  };
}

/** Character and block device nodes under `dir`, recursively (not through symlinks). */
export function listDevices(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isCharacterDevice() || e.isBlockDevice()) out.push(p);
      else if (e.isDirectory() && !["pts", "shm", "mqueue", "hugepages"].includes(e.name)) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * The lowest oom_score_adj portod can give a container here: -1000 with
 * CAP_SYS_RESOURCE, else 0 (the kernel refuses negative values; PORTO.md).
 */
export function minOomScoreAdj(status = "/proc/self/status"): number {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(status, "utf8"));
    if (m && (BigInt(`0x${m[1]}`) >> CAP_SYS_RESOURCE) & 1n) return -1000;
  } catch {
    // unknown: assume the restricted case
  }
  return 0;
}
