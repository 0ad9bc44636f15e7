/**
 * Exec: checks the container runs and answers with a one-time streaming URL;
 * the command runs when the client connects (src/streaming).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ExecRequestSchema, ExecResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ExecRequest, ExecResponse } from "../../../gen/runtime/v1/api_pb.js";
import { runningContainer, validateStdio } from "./streaming-deps.js";
import type { StreamingDeps } from "./streaming-deps.js";

export async function exec(deps: StreamingDeps, req: ExecRequest): Promise<ExecResponse> {
  if (req.cmd.length === 0 || req.cmd[0] === "") throw new ConnectError("cmd: must not be empty", Code.InvalidArgument);
  validateStdio(req);
  const container = await runningContainer(deps, req.containerId);
  // The token keeps the full id, so the session finds the same container whatever prefixes exist by then.
  const bound = create(ExecRequestSchema, { ...req, containerId: container.id, cmd: [...req.cmd] });
  return create(ExecResponseSchema, { url: deps.streaming.execUrl(bound) });
}
