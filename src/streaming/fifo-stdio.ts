/**
 * Pipes between the shim and a process portod starts.
 *
 * portod opens a `/dev/fd/N` stream path as /proc/<client pid>/fd/N, i.e. it
 * re-opens descriptor N of the process that sent the request (stream.cpp),
 * after checking the inode matches what it saw when the property was set. A
 * Unix socket cannot be re-opened that way (ENXIO), so the child_process pipes
 * Node makes (socketpairs) will not do; a pipe or FIFO can. Node cannot make an
 * anonymous pipe, so we make FIFOs with mkfifo(1) in a private directory, open
 * both ends, and unlink them at once: only the descriptors remain, and nothing
 * is left on disk whatever happens next.
 *
 * Until the process has started we also hold the other end of each output
 * FIFO (so reading does not see an end-of-file before the writer exists) and of
 * stdin (so opening does not block); `started()` drops those, after which
 * end-of-file on an output means every writer in the container has closed it.
 */
import { execFile } from "node:child_process";
import { closeSync, constants as fsConstants, mkdtempSync, openSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface FifoStdio {
  /** Values for stdin_path, stdout_path, stderr_path ("" leaves portod's default, /dev/null for stdin). */
  stdinPath: string;
  stdoutPath: string;
  stderrPath: string;
  /** The write end of the process' stdin. */
  stdin?: Socket;
  /** The read end of its stdout. */
  stdout?: Socket;
  /** The read end of its stderr. */
  stderr?: Socket;
  /** Call once portod started the process: drops the ends held for it. */
  started(): void;
  /** Closes every descriptor still open. */
  dispose(): void;
}

export interface FifoOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Where the short-lived FIFOs are made; default the system temp directory. */
  dir?: string;
}

export async function openFifoStdio(opts: FifoOptions): Promise<FifoStdio> {
  const wanted = (["stdin", "stdout", "stderr"] as const).filter((s) => opts[s]);
  const fds: number[] = [];
  const held: number[] = [];
  const result: FifoStdio = {
    stdinPath: "/dev/null",
    stdoutPath: "/dev/null",
    stderrPath: "/dev/null",
    started() {
      for (const fd of held.splice(0)) safeClose(fd, fds);
    },
    dispose() {
      result.started();
      for (const s of [result.stdin, result.stdout, result.stderr]) s?.destroy();
      for (const fd of fds.splice(0)) safeClose(fd);
    },
  };
  if (wanted.length === 0) return result;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), "portoshim-stdio-"));
  try {
    const paths = wanted.map((s) => join(dir, s));
    await run("mkfifo", ["-m", "0600", ...paths]);
    for (const [i, which] of wanted.entries()) {
      const path = paths[i];
      // (libuv adds O_CLOEXEC to every open.) O_NONBLOCK: opening a FIFO's read end does not wait for a writer, nor the write end (with a reader held) for a reader.
      const reader = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      fds.push(reader);
      const writer = openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      fds.push(writer);
      if (which === "stdin") {
        result.stdinPath = `/dev/fd/${reader}`;
        held.push(reader);
        result.stdin = new Socket({ fd: writer, readable: false, writable: true });
        forget(fds, writer);
      } else {
        result[which === "stdout" ? "stdoutPath" : "stderrPath"] = `/dev/fd/${writer}`;
        held.push(writer);
        result[which] = new Socket({ fd: reader, readable: true, writable: false });
        forget(fds, reader);
      }
    }
  } catch (err) {
    result.dispose();
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

function forget(fds: number[], fd: number): void {
  const i = fds.indexOf(fd);
  if (i >= 0) fds.splice(i, 1);
}

function safeClose(fd: number, from?: number[]): void {
  if (from) forget(from, fd);
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
