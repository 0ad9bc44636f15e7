/**
 * Stopping a pod and its containers; shared by StopPodSandbox and
 * RemovePodSandbox (which stops first, as containerd does). Callers hold the
 * pod's lock; each container's lock is taken here, after it.
 */
import { constants } from "node:os";
import { containerPortoName, podPortoName } from "../mapping/porto-names.js";
import { isRunning } from "./container-state.js";
import type { RuntimeDeps } from "./deps.js";
import { containerLockKey } from "./lookup.js";
import { usesPodNetwork } from "./network.js";
import { nowNs } from "./records.js";
import type { PodEntry } from "./runtime-state.js";
import { stopProcess } from "./stop.js";

export async function stopPod(deps: RuntimeDeps, pod: PodEntry): Promise<void> {
  const { state, porto, logger } = deps;
  const podId = pod.record.id;
  const containers = state.allContainersOf(podId);
  const facts = await state.portoFacts([podPortoName(podId), ...containers.map((c) => containerPortoName(podId, c.id))]);

  await Promise.all(
    containers.map((c) =>
      state.locks.run(containerLockKey(c.id), async () => {
        const name = containerPortoName(podId, c.id);
        const current = state.containers.get(c.id);
        if (!current || !isRunning(facts.get(name))) return;
        await stopProcess(porto, logger, name, constants.signals.SIGKILL, 0);
        await state.updateContainer({ ...current, finishedAtNs: nowNs().toString() });
      }),
    ),
  );

  // A pod that runs a process of its own (a pause image) stops it too; a meta pod has none.
  const podFacts = facts.get(podPortoName(podId));
  if (podFacts?.state === "running") await stopProcess(porto, logger, podPortoName(podId), constants.signals.SIGKILL, 0);

  // NOTREADY and without addresses before DEL gives them back: should DEL fail, the call fails and
  // kubelet retries it, while the status already tells the truth.
  if (pod.record.state !== "notready" || pod.record.ips !== undefined) {
    await state.updatePod({ ...pod.record, state: "notready", ips: undefined });
  }
  // Idempotent: a pod torn down already, or whose set-up never finished, is fine.
  if (usesPodNetwork(pod.config)) await deps.network?.tearDown(podId);
}
