/**
 * kubelet's CRI log file of one container, as the shim appends to it.
 *
 * The shim is its only writer, so the size after each append is known
 * without asking the file system. What was appended since the last commit
 * may be cut off again after a crash (see container-log.ts); `recover` does
 * that, also when kubelet renamed the file in the meantime.
 */
import { mkdir, open, readdir, stat, truncate } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Which file a record means: device and inode as decimal strings (they may exceed 2^53). */
export interface FileIdentity {
  dev: string;
  ino: string;
}

/** A file and how much of it is complete. */
export interface CommittedFile extends FileIdentity {
  size: number;
}

/** Errors that mean "the disk is full" rather than "something is wrong": logging degrades, nothing else. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "EFBIG";
}

export class LogFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly identity: FileIdentity,
    private sizeNow: number,
  ) {}

  /**
   * Opens `path` for appending, creating it (and its directory, as containerd
   * does) when missing.
   */
  static async open(path: string): Promise<LogFile> {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const fh = await open(path, "a", 0o640);
    try {
      const st = await fh.stat({ bigint: true });
      return new LogFile(path, fh, { dev: String(st.dev), ino: String(st.ino) }, Number(st.size));
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Bytes in the file, including what is not committed yet. */
  get size(): number {
    return this.sizeNow;
  }

  /**
   * Appends `data` whole or not at all: after a failed or short write the
   * file is cut back to where it was, so it always ends at a line boundary.
   * Throws the write error (after the cut).
   */
  async append(data: Uint8Array): Promise<void> {
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, null);
        if (bytesWritten === 0) throw Object.assign(new Error("write wrote nothing"), { code: "EIO" });
        done += bytesWritten;
      }
    } catch (err) {
      if (done > 0) await this.fh.truncate(this.sizeNow).catch(() => {});
      throw err;
    }
    this.sizeNow += done;
  }

  /** Makes everything appended so far durable. */
  async sync(): Promise<void> {
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }

  /**
   * Cuts what a crash left after the last commit, before the file is opened
   * again. `committed` names the file the record was about and its complete
   * size. Usually that file is still at `path`; if kubelet renamed it away
   * (its rotation, possibly with our ReopenContainerLog never answered), it is
   * looked for by inode in the same directory. Returns how many bytes were cut.
   */
  static async recover(path: string, committed: CommittedFile): Promise<number> {
    let target: string | undefined;
    const here = await stat(path, { bigint: true }).catch(() => undefined);
    if (here && String(here.dev) === committed.dev && String(here.ino) === committed.ino) target = path;
    else target = await findByInode(dirname(path), committed);
    if (!target) return 0;
    const st = await stat(target);
    if (st.size <= committed.size) return 0;
    await truncate(target, committed.size);
    return st.size - committed.size;
  }
}

async function findByInode(dir: string, id: FileIdentity): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const st = await stat(join(dir, name), { bigint: true }).catch(() => undefined);
    if (st && st.isFile() && String(st.dev) === id.dev && String(st.ino) === id.ino) return join(dir, name);
  }
  return undefined;
}
