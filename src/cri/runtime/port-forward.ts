/**
 * PortForward: checks the pod sandbox runs and answers with a one-time
 * streaming URL; connections are made when the client asks (src/streaming).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { PortForwardRequestSchema, PortForwardResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { PortForwardRequest, PortForwardResponse } from "../../../gen/runtime/v1/api_pb.js";
import { runningPod } from "./streaming-deps.js";
import type { StreamingDeps } from "./streaming-deps.js";

export async function portForward(deps: StreamingDeps, req: PortForwardRequest): Promise<PortForwardResponse> {
  const bad = req.port.find((p) => !(p > 0 && p < 65536));
  if (bad !== undefined) throw new ConnectError(`port: ${bad} is not a TCP port`, Code.InvalidArgument);
  const pod = await runningPod(deps, req.podSandboxId);
  const bound = create(PortForwardRequestSchema, { podSandboxId: pod.id, port: [...req.port] });
  return create(PortForwardResponseSchema, { url: deps.streaming.portForwardUrl(bound) });
}
