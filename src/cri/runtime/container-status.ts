/**
 * ContainerStatus: the container's record joined with Porto's facts about it,
 * from the Porto view (a request only when the view is stale or the
 * container just changed). An unknown or ambiguous id is NotFound.
 */
import { create } from "@bufbuild/protobuf";
import { ContainerState, ContainerStatusResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ContainerStatusRequest, ContainerStatusResponse } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName } from "../../mapping/porto-names.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { requireContainer } from "../../runtime/lookup.js";
import { currentFacts } from "../../runtime/porto-view.js";
import { containerStatusOf, containerVerboseInfo } from "../../runtime/views.js";

export async function containerStatus(deps: RuntimeDeps, req: ContainerStatusRequest): Promise<ContainerStatusResponse> {
  const ctr = requireContainer(deps.state, req.containerId);
  const name = containerPortoName(ctr.record.podId, ctr.record.id);
  const facts = (await currentFacts(deps.state, [name])).get(name);
  const status = containerStatusOf(ctr, facts);
  // kubelet stops following a log once the container reads EXITED: all of its output must be in the file by then.
  if (status.state === ContainerState.CONTAINER_EXITED) await deps.logs?.flush(ctr.record.id);
  return create(ContainerStatusResponseSchema, {
    status,
    info: req.verbose ? containerVerboseInfo(ctr, facts) : {},
  });
}
