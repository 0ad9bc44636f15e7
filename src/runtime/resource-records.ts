/**
 * Keeping resource updates in the records, so ContainerStatus (which reports
 * the stored config's linux.resources, views.ts) and a restarted shim see the
 * resources in force, as containerd keeps the updated spec.
 *
 * The stored config is re-encoded with the new resources; the decoded config
 * RuntimeState caches is the same object callers get from container()/pod(),
 * so it is updated in place and every later view shows the new values.
 * Callers hold the object's lock.
 */
import type { LinuxContainerResources } from "../../gen/runtime/v1/api_pb.js";
import { create } from "@bufbuild/protobuf";
import { LinuxContainerConfigSchema, LinuxPodSandboxConfigSchema } from "../../gen/runtime/v1/api_pb.js";
import { encodeContainerConfig, encodePodConfig } from "./records.js";
import type { ContainerEntry, PodEntry, RuntimeState } from "./runtime-state.js";

/** Stores `resources` as the container's linux.resources. */
export async function recordContainerResources(state: RuntimeState, ctr: ContainerEntry, resources: LinuxContainerResources): Promise<void> {
  const config = ctr.config;
  const previous = config.linux?.resources;
  config.linux ??= create(LinuxContainerConfigSchema);
  config.linux.resources = resources;
  try {
    await state.updateContainer({ ...ctr.record, config: encodeContainerConfig(config) });
  } catch (err) {
    config.linux.resources = previous;
    throw err;
  }
}

/** Stores the pod's new resources (the containers' total) and overhead. */
export async function recordPodResources(
  state: RuntimeState,
  pod: PodEntry,
  resources: LinuxContainerResources | undefined,
  overhead: LinuxContainerResources | undefined,
): Promise<void> {
  const config = pod.config;
  config.linux ??= create(LinuxPodSandboxConfigSchema);
  const previous = { resources: config.linux.resources, overhead: config.linux.overhead };
  config.linux.resources = resources;
  config.linux.overhead = overhead;
  try {
    await state.updatePod({ ...pod.record, config: encodePodConfig(config) });
  } catch (err) {
    config.linux.resources = previous.resources;
    config.linux.overhead = previous.overhead;
    throw err;
  }
}
