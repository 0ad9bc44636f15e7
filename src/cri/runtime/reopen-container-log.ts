/**
 * ReopenContainerLog: kubelet has renamed the container's log file (its log
 * rotation) and asks for a new one at the same path; later output goes there.
 * The new file exists when this answers.
 *
 * A container that is not running answers FailedPrecondition with
 * containerd's message, "container is not running" (containerd returns it as
 * a plain error, which gRPC reports as Unknown; kubelet only checks for an
 * error, then renames the file back). An unknown id is NotFound.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ReopenContainerLogResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ReopenContainerLogRequest, ReopenContainerLogResponse } from "../../../gen/runtime/v1/api_pb.js";
import { ContainerNotRunningError } from "../../logs/index.js";
import { containerPortoName } from "../../mapping/porto-names.js";
import { isRunning } from "../../runtime/container-state.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { requireContainer } from "../../runtime/lookup.js";

export async function reopenContainerLog(deps: RuntimeDeps, req: ReopenContainerLogRequest): Promise<ReopenContainerLogResponse> {
  const { record } = requireContainer(deps.state, req.containerId);
  const id = record.id;
  if (!deps.logs) throw new ConnectError("container logs are not enabled", Code.Unimplemented);
  if (record.logPath === "") {
    // No log to reopen (no log_directory or log_path): containerd answers by the state alone.
    const name = containerPortoName(record.podId, id);
    if (!isRunning((await deps.state.portoFacts([name])).get(name))) throw new ConnectError("container is not running", Code.FailedPrecondition);
    return create(ReopenContainerLogResponseSchema);
  }
  try {
    await deps.logs.reopen(id);
  } catch (err) {
    if (err instanceof ContainerNotRunningError) throw new ConnectError(err.message, Code.FailedPrecondition);
    throw err;
  }
  return create(ReopenContainerLogResponseSchema);
}
