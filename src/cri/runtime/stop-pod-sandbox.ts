/**
 * StopPodSandbox: every container of the pod is killed (kubelet has already
 * given them their grace period), the pod's own process too if it has one,
 * its network is torn down, and the pod is NOTREADY for good.
 *
 * The pod's Porto container itself is not stopped: Porto's stop would reset
 * its exited children to `stopped` and lose their exit codes, which kubelet
 * still reads. RemovePodSandbox destroys it. Stopping a pod that is stopped
 * or gone succeeds.
 */
import { create } from "@bufbuild/protobuf";
import { ContainerEventType, StopPodSandboxResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { StopPodSandboxRequest, StopPodSandboxResponse } from "../../../gen/runtime/v1/api_pb.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { podIdForTeardown, podLockKey } from "../../runtime/lookup.js";
import { stopPod } from "../../runtime/pod-teardown.js";
import { emitContainerEvent } from "../../runtime/events.js";

export async function stopPodSandbox(deps: RuntimeDeps, req: StopPodSandboxRequest): Promise<StopPodSandboxResponse> {
  const podId = podIdForTeardown(deps.state, req.podSandboxId);
  if (podId !== undefined) {
    await deps.state.locks.run(podLockKey(podId), async () => {
      const pod = deps.state.pod(podId);
      if (!pod) return;
      await stopPod(deps, pod);
      emitContainerEvent(deps.state, { type: ContainerEventType.CONTAINER_STOPPED_EVENT, podId, containerId: podId });
    });
  }
  return create(StopPodSandboxResponseSchema);
}
