/**
 * StopContainer: the container's own process gets its stop signal (the
 * image's StopSignal, else SIGTERM), then after `timeout` seconds SIGKILL;
 * the call returns once the process is gone. Stopping a container that is
 * not running, or is gone, succeeds: kubelet retries stops.
 */
import { create } from "@bufbuild/protobuf";
import { ContainerEventType, StopContainerResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { StopContainerRequest, StopContainerResponse } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName } from "../../mapping/porto-names.js";
import { isRunning } from "../../runtime/container-state.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { containerIdForTeardown, containerLockKey } from "../../runtime/lookup.js";
import { nowNs } from "../../runtime/records.js";
import { stopProcess } from "../../runtime/stop.js";
import { emitContainerEvent } from "../../runtime/events.js";

export async function stopContainer(deps: RuntimeDeps, req: StopContainerRequest): Promise<StopContainerResponse> {
  const { state } = deps;
  const id = containerIdForTeardown(state, req.containerId);
  if (id !== undefined) {
    await state.locks.run(containerLockKey(id), async () => {
      const record = state.containers.get(id);
      if (!record) return;
      const name = containerPortoName(record.podId, id);
      const facts = await state.portoFacts([name]);
      if (!isRunning(facts.get(name))) return;
      const graceMs = Math.max(0, Number(req.timeout)) * 1000;
      const outcome = await stopProcess(deps.porto, deps.logger, name, record.stopSignal, graceMs);
      deps.logger.debug({ container: id, how: outcome.how }, "container stopped");
      await state.updateContainer({
        ...record,
        finishedAtNs: nowNs().toString(),
        // Porto `stop` forgets the exit status; SIGKILL is what ended it.
        ...(outcome.how === "stopped" ? { exitCode: 137 } : {}),
      });
      emitContainerEvent(state, { type: ContainerEventType.CONTAINER_STOPPED_EVENT, podId: record.podId, containerId: id });
    });
  }
  return create(StopContainerResponseSchema);
}
