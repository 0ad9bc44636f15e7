/**
 * PodSandboxStatus: the pod's record joined with Porto's facts about the pod
 * and its containers, from the Porto view (else asked in one request). An
 * unknown or ambiguous id is NotFound, which kubelet reads as "the sandbox is
 * gone".
 */
import { create } from "@bufbuild/protobuf";
import { PodSandboxStatusResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { PodSandboxStatusRequest, PodSandboxStatusResponse } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../../mapping/porto-names.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { requirePod } from "../../runtime/lookup.js";
import { currentFacts } from "../../runtime/porto-view.js";
import { nowNs } from "../../runtime/records.js";
import { containerStatusOf, podSandboxStatusOf, podVerboseInfo } from "../../runtime/views.js";

export async function podSandboxStatus(deps: RuntimeDeps, req: PodSandboxStatusRequest): Promise<PodSandboxStatusResponse> {
  const pod = requirePod(deps.state, req.podSandboxId);
  const podId = pod.record.id;
  const containers = deps.state.listContainers(podId);
  const facts = await currentFacts(deps.state, [
    podPortoName(podId),
    ...containers.map((c) => containerPortoName(podId, c.record.id)),
  ]);
  const podFacts = facts.get(podPortoName(podId));
  return create(PodSandboxStatusResponseSchema, {
    status: podSandboxStatusOf(pod, podFacts),
    info: req.verbose ? podVerboseInfo(pod, podFacts) : {},
    // Filled for kubelet's evented PLEG, which reads the containers along with the pod.
    containersStatuses: containers.map((c) => containerStatusOf(c, facts.get(containerPortoName(podId, c.record.id)))),
    timestamp: nowNs(),
  });
}
