/**
 * RemoveContainer: kills the container if it still runs (containerd removes
 * running containers too), destroys its Porto container and root volume,
 * then forgets it. Removing a container that is gone succeeds.
 */
import { create } from "@bufbuild/protobuf";
import { constants } from "node:os";
import { ContainerEventType, RemoveContainerResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { RemoveContainerRequest, RemoveContainerResponse } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName } from "../../mapping/porto-names.js";
import { isRunning } from "../../runtime/container-state.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { containerIdForTeardown, containerLockKey } from "../../runtime/lookup.js";
import { stopProcess } from "../../runtime/stop.js";
import { emitContainerEvent } from "../../runtime/events.js";

export async function removeContainer(deps: RuntimeDeps, req: RemoveContainerRequest): Promise<RemoveContainerResponse> {
  const { state } = deps;
  const id = containerIdForTeardown(state, req.containerId);
  if (id !== undefined) {
    await state.locks.run(containerLockKey(id), async () => {
      const record = state.containers.get(id);
      if (!record) return;
      const name = containerPortoName(record.podId, id);
      const facts = await state.portoFacts([name]);
      // Killed first so that destroy does not wait for a grace period.
      if (isRunning(facts.get(name))) await stopProcess(deps.porto, deps.logger, name, constants.signals.SIGKILL, 0);
      await state.destroyQuietly(name);
      await state.deleteContainer(record);
      emitContainerEvent(state, { type: ContainerEventType.CONTAINER_DELETED_EVENT, podId: record.podId, containerId: id });
      await deps.logs?.remove(id); // the CRI log file itself is kubelet's to delete
      deps.stdio?.release(id);
    });
  }
  return create(RemoveContainerResponseSchema);
}
