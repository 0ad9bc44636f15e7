/**
 * Attach: checks the container runs and answers with a one-time streaming URL
 * for its main process' stdio (src/streaming/container-stdio.ts).
 */
import { create } from "@bufbuild/protobuf";
import { AttachRequestSchema, AttachResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { AttachRequest, AttachResponse } from "../../../gen/runtime/v1/api_pb.js";
import { runningContainer, validateStdio } from "./streaming-deps.js";
import type { StreamingDeps } from "./streaming-deps.js";

export async function attach(deps: StreamingDeps, req: AttachRequest): Promise<AttachResponse> {
  validateStdio(req);
  const container = await runningContainer(deps, req.containerId);
  const bound = create(AttachRequestSchema, { ...req, containerId: container.id });
  return create(AttachResponseSchema, { url: deps.streaming.attachUrl(bound) });
}
