/**
 * RemovePodSandbox: stops the pod if it is not stopped yet (as containerd
 * does), destroys its Porto container, which takes its containers and their
 * volumes along, then forgets the containers and the pod. Records go last, so
 * a crash half-way leaves records without Porto containers, which start-up
 * reconciliation drops. Removing a pod that is gone succeeds.
 */
import { create } from "@bufbuild/protobuf";
import { ContainerEventType, RemovePodSandboxResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { RemovePodSandboxRequest, RemovePodSandboxResponse } from "../../../gen/runtime/v1/api_pb.js";
import { podPortoName } from "../../mapping/porto-names.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { containerLockKey, podIdForTeardown, podLockKey } from "../../runtime/lookup.js";
import { stopPod } from "../../runtime/pod-teardown.js";
import { usesPodNetwork } from "../../runtime/network.js";
import { emitContainerEvent } from "../../runtime/events.js";

export async function removePodSandbox(deps: RuntimeDeps, req: RemovePodSandboxRequest): Promise<RemovePodSandboxResponse> {
  const { state } = deps;
  const podId = podIdForTeardown(state, req.podSandboxId);
  if (podId !== undefined) {
    await state.locks.run(podLockKey(podId), async () => {
      const pod = state.pod(podId);
      if (!pod) return;
      await stopPod(deps, pod);
      emitContainerEvent(state, { type: ContainerEventType.CONTAINER_STOPPED_EVENT, podId, containerId: podId }); // once: sent only if StopPodSandbox did not
      await state.destroyQuietly(podPortoName(podId));
      for (const c of state.allContainersOf(podId)) {
        await state.locks.run(containerLockKey(c.id), async () => {
          const current = state.containers.get(c.id);
          if (current) await state.deleteContainer(current);
          if (current) emitContainerEvent(state, { type: ContainerEventType.CONTAINER_DELETED_EVENT, podId, containerId: c.id });
          await deps.logs?.remove(c.id);
          deps.stdio?.release(c.id);
        });
      }
      // The namespace goes once nothing of the pod's is in it; the network's record before ours (network.ts).
      if (usesPodNetwork(pod.config)) await deps.network?.remove(podId);
      await state.deletePod(state.pod(podId)!.record);
      emitContainerEvent(state, { type: ContainerEventType.CONTAINER_DELETED_EVENT, podId, containerId: podId, pod });
      deps.logger.info({ pod: podId }, "pod sandbox removed");
    });
  }
  return create(RemovePodSandboxResponseSchema);
}
