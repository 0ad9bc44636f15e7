/**
 * portod's std stream rotation (TPath::RotateLog, src/util/path.cpp, and
 * TStdStream::Rotate): a regular file above `limit` (and above one block)
 * loses its head, block aligned, keeping about half the limit, by
 * fallocate(FALLOC_FL_COLLAPSE_RANGE); where the file system cannot collapse,
 * it is truncated to nothing. Then the rest of the line the cut went
 * through is overwritten with spaces, its newline included (portod looks for
 * that newline in the 16 KiB after the cut), so the blanks run into the next
 * line. The bytes dropped are added to stdout_offset/stderr_offset.
 *
 * Node has no fallocate, so the collapse runs util-linux's `fallocate`, as the
 * same system call portod makes.
 */
import { execFileSync } from "node:child_process";
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";

const ROTATE_OFFSET_LIMIT = 16384;

/** Rotates `path` at `limit` bytes; returns the bytes dropped (0 when nothing was done). */
export function rotateLog(path: string, limit: number): number {
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch {
    return 0;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size <= limit || st.size <= st.blksize) return 0;
    let hole = st.size - Math.floor(limit / 2);
    hole -= hole % st.blksize;
    let loss = hole;

    const buf = Buffer.alloc(Math.min(Math.floor(limit / 2), ROTATE_OFFSET_LIMIT) || ROTATE_OFFSET_LIMIT);
    const n = readSync(fd, buf, 0, buf.length, hole);
    const nl = buf.subarray(0, n).indexOf(0x0a);
    const blank = nl >= 0 ? nl + 1 : 0;

    try {
      execFileSync("fallocate", ["--collapse-range", "--offset", "0", "--length", String(hole), path], { stdio: "ignore" });
    } catch {
      loss = st.size;
      ftruncateSync(fd, 0);
    }
    if (blank > 0) writeSync(fd, Buffer.alloc(blank, 0x20), 0, blank, 0);
    return loss;
  } finally {
    closeSync(fd);
  }
}
