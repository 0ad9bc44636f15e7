/**
 * UpdatePodSandboxResources: kubelet tells the new pod-level resources (the
 * containers' new total, and the overhead) after an in-place resize. Porto
 * enforces a pod's limits on the pod's own container, which holds its
 * containers' cgroups, so the new total (with the overhead added, as at
 * creation: resources.ts podResources) is set there in one UpdateFromSpec,
 * and kept in the pod's record.
 *
 * kubelet treats this call as best effort; a refusal still says why, with
 * portod's reason (see update-container-resources.ts). A pod that is no longer
 * ready only has its record changed: nothing runs in it.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LinuxPodSandboxConfigSchema, UpdatePodSandboxResourcesResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { UpdatePodSandboxResourcesRequest, UpdatePodSandboxResourcesResponse } from "../../../gen/runtime/v1/api_pb.js";
import { podPortoName } from "../../mapping/porto-names.js";
import { dynamicResourcesUpdate, podResources } from "../../mapping/resources.js";
import { isRunning } from "../../runtime/container-state.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { podLockKey, requirePod } from "../../runtime/lookup.js";
import { recordPodResources } from "../../runtime/resource-records.js";
import { refused } from "./update-container-resources.js";

export async function updatePodSandboxResources(
  deps: RuntimeDeps,
  req: UpdatePodSandboxResourcesRequest,
): Promise<UpdatePodSandboxResourcesResponse> {
  const { state } = deps;
  const podId = requirePod(state, req.podSandboxId).record.id;
  await state.locks.run(podLockKey(podId), async () => {
    const pod = state.pod(podId);
    if (!pod) throw new ConnectError(`pod sandbox ${podId} not found`, Code.NotFound);
    const name = podPortoName(podId);
    const limits = podResources(create(LinuxPodSandboxConfigSchema, { resources: req.resources, overhead: req.overhead }));
    const { spec, warnings } = dynamicResourcesUpdate(podResources(pod.config.linux), limits, { field: "resources" });
    const facts = (await state.portoFacts([name])).get(name);
    if (pod.record.state === "ready" && isRunning(facts) && Object.keys(spec).length > 0) {
      try {
        await deps.porto.updateFromSpec({ name, ...spec });
      } catch (err) {
        throw refused(err, `pod sandbox ${podId}`);
      }
    }
    await recordPodResources(state, pod, req.resources, req.overhead);
    const log = deps.logger.child({ pod: podId });
    for (const w of warnings) log.warn(w);
    log.info({ resources: spec }, "pod sandbox resources updated");
  });
  return create(UpdatePodSandboxResourcesResponseSchema);
}
