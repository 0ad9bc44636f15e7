/**
 * ExecSync: runs a command in the container and answers with its output and
 * exit code. kubelet uses it for exec probes, so:
 * - stdout and stderr are kept up to 16 MiB each (kubelet's cap, as
 *   containerd's); the rest is read and dropped so the command never blocks;
 * - the timeout (seconds; 0 = none) kills the command and answers
 *   DeadlineExceeded, the one code kubelet reads as a probe timeout;
 * - a call cancelled by its client kills the command too.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Writable } from "node:stream";
import { ExecSyncResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ExecSyncRequest, ExecSyncResponse } from "../../../gen/runtime/v1/api_pb.js";
import { runningContainer, toConnectError } from "./streaming-deps.js";
import type { StreamingDeps } from "./streaming-deps.js";

/** kubelet's and containerd's cap on each output stream. */
export const EXEC_SYNC_MAX_OUTPUT = 16 * 1024 * 1024;

/** Collects up to `limit` bytes and swallows the rest. */
class CappedSink extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const room = this.limit - this.size;
    if (room > 0) {
      const keep = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(keep);
      this.size += keep.length;
    }
    cb();
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

export async function execSync(
  deps: StreamingDeps,
  req: ExecSyncRequest,
  callSignal?: AbortSignal,
  maxOutput = EXEC_SYNC_MAX_OUTPUT,
): Promise<ExecSyncResponse> {
  if (req.cmd.length === 0 || req.cmd[0] === "") throw new ConnectError("cmd: must not be empty", Code.InvalidArgument);
  if (req.timeout < 0n) throw new ConnectError("timeout: must not be negative", Code.InvalidArgument);
  const container = await runningContainer(deps, req.containerId);
  const stdout = new CappedSink(maxOutput);
  const stderr = new CappedSink(maxOutput);
  const abort = new AbortController();
  let timedOut = false;
  const seconds = Number(req.timeout);
  const timer =
    seconds > 0
      ? setTimeout(() => {
          timedOut = true;
          abort.abort();
        }, seconds * 1000)
      : undefined;
  const onCancel = () => abort.abort();
  callSignal?.addEventListener("abort", onCancel, { once: true });
  let exitCode: number;
  try {
    exitCode = await deps.execBackend.exec(container.id, req.cmd, { tty: false, stdout, stderr, signal: abort.signal });
  } catch (err) {
    if (timedOut) throw deadline(req, seconds);
    throw toConnectError(err);
  } finally {
    clearTimeout(timer);
    callSignal?.removeEventListener("abort", onCancel);
  }
  if (timedOut) throw deadline(req, seconds);
  return create(ExecSyncResponseSchema, { stdout: stdout.bytes(), stderr: stderr.bytes(), exitCode });
}

function deadline(req: ExecSyncRequest, seconds: number): ConnectError {
  return new ConnectError(
    `command ${JSON.stringify(req.cmd)} in container ${req.containerId} timed out after ${seconds}s and was killed`,
    Code.DeadlineExceeded,
  );
}
