/**
 * Where a container's output goes in Porto, so the shim can turn it into CRI
 * log lines without any process of its own inside the container.
 *
 * portod writes the main process's stdout and stderr to two files it owns,
 * `stdout` and `stderr` in the container's work directory
 * (/place/porto/<porto name>/), when `stdout_path` and `stderr_path` keep
 * their defaults. The shim tails those files from the host. Why the defaults
 * and not paths of our own (read in portod 5.3.59, src/stream.cpp and
 * src/container.cpp):
 * - a client-set `stdout_path` is opened *inside* the container (relative to
 *   its root and cwd), so a host path would have to be bind-mounted into
 *   every container; only the defaults are resolved outside;
 * - `/dev/fd/N` hands portod one of the shim's own descriptors: a pipe whose
 *   reader is the shim. While the shim is down the application blocks once
 *   the pipe is full, and when the shim dies it gets SIGPIPE. A file keeps
 *   the application independent of the shim;
 * - portod rotates only its own files: every second (log_rotate_ms) a file
 *   above `stdout_limit` loses its head (fallocate COLLAPSE_RANGE down to
 *   half the limit, block aligned) and `stdout_offset`/`stderr_offset` grow
 *   by the bytes dropped, so `offset + position in file` is a byte's absolute
 *   position in the stream, which is how the shim keeps its place (see
 *   container-log.ts).
 * `stdout_limit` is therefore the one property the shim sets: how much output
 * may pile up unread (while the shim is down or behind) before portod drops
 * it. It also bounds the disk this copy takes: at most the limit per
 * container, on top of kubelet's rotated CRI logs.
 */
import { join } from "node:path";

/** portod's PORTO_WORKDIR: containers' work directories live under it. */
export const PORTO_WORK_DIR = "/place/porto";

/**
 * The `stdout_limit` the shim asks for: 64 MiB (portod's default is 8 MiB).
 * Output survives a shim outage as long as the container writes less than
 * about half of it meanwhile (portod keeps the newest half when it rotates);
 * the disk cost is at most this per container, the size of kubelet's own
 * default budget (5 files of 10 MiB).
 */
export const STDOUT_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * The Porto properties a CRI container needs so its output reaches its CRI
 * log: for CreateContainer to set when it builds the Porto container
 * (src/mapping/container-spec.ts).
 *
 * - `stdout_limit`: STDOUT_LIMIT_BYTES (see above).
 * - `stdout_path` and `stderr_path` must stay *unset* (portod's defaults,
 *   files in the work directory): anything a client sets is opened inside the
 *   container, where the shim cannot follow it. Likewise `stdin_path` stays
 *   /dev/null unless the container asked for stdin (attach's business).
 *
 * As text properties for `setProperty`; `stdioSpec` gives the same for
 * CreateFromSpec.
 */
export function stdioPortoProperties(): { stdout_limit: string } {
  return { stdout_limit: String(STDOUT_LIMIT_BYTES) };
}

/** stdioPortoProperties as TContainerSpec fields, for CreateFromSpec. */
export function stdioSpec(): { stdoutLimit: bigint } {
  return { stdoutLimit: BigInt(STDOUT_LIMIT_BYTES) };
}

/**
 * The files portod writes a container's stdout and stderr to, given its full
 * Porto name (`k8s-<pod>/<container>`): <work dir>/<name>/stdout and stderr.
 * `workDir` is PORTO_WORK_DIR except under the test double.
 */
export function portoStdioPaths(portoName: string, workDir: string = PORTO_WORK_DIR): { stdoutPath: string; stderrPath: string } {
  const dir = join(workDir, portoName);
  return { stdoutPath: join(dir, "stdout"), stderrPath: join(dir, "stderr") };
}
