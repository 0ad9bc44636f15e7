/**
 * RunPodSandbox: a pod is one Porto container, `k8s-<pod id>`, that holds
 * the pod's namespaces; its containers are Porto children of it.
 *
 * The story: check the config and that no pod has this metadata and attempt
 * yet, write the pod's record, set up its network (when a network is plugged
 * in), create and start the Porto container in one CreateFromSpec, then make
 * the pod visible. Any failure undoes every step, so nothing is left in
 * Porto, in the network or on disk.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ContainerEventType, RunPodSandboxResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { PodSandboxConfig, RunPodSandboxRequest, RunPodSandboxResponse } from "../../../gen/runtime/v1/api_pb.js";
import { newId } from "../../mapping/ids.js";
import { podPortoName } from "../../mapping/porto-names.js";
import { podSpec } from "../../mapping/pod-spec.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { usesPodNetwork } from "../../runtime/network.js";
import type { PodNetwork } from "../../runtime/network.js";
import { invalidArgument } from "../../runtime/lookup.js";
import { ownedSpec } from "../../runtime/owned-spec.js";
import { RECORD_VERSION, encodePodConfig, nowNs } from "../../runtime/records.js";
import type { PodRecord } from "../../runtime/records.js";
import { settleAll } from "../../runtime/runtime-state.js";
import type { TContainerSpec } from "../../../gen/rpc_pb.js";
import { emitContainerEvent } from "../../runtime/events.js";

export async function runPodSandbox(deps: RuntimeDeps, req: RunPodSandboxRequest): Promise<RunPodSandboxResponse> {
  const config = validConfig(req.config);
  if (req.runtimeHandler !== "" && !deps.runtimeHandlers.includes(req.runtimeHandler)) {
    throw invalidArgument("runtime_handler", `${JSON.stringify(req.runtimeHandler)} is not a runtime handler of this node`);
  }

  const { state } = deps;
  const key = podNameKey(config);
  const taken = () => state.listPods().some((p) => podNameKey(p.config) === key);
  if (!state.reserveName(key, taken)) {
    const m = config.metadata!;
    throw new ConnectError(
      `a pod sandbox named ${JSON.stringify(m.name)} in namespace ${JSON.stringify(m.namespace)} with uid ${JSON.stringify(m.uid)} and attempt ${m.attempt} already exists`,
      Code.AlreadyExists,
    );
  }
  try {
    const id = newId();
    const record: PodRecord = {
      v: RECORD_VERSION,
      id,
      config: encodePodConfig(config),
      runtimeHandler: req.runtimeHandler,
      createdAtNs: nowNs().toString(),
      state: "ready",
      podCidr: state.podCidr || undefined,
    };
    const network = usesPodNetwork(config) ? deps.network : undefined;
    // The spec before anything is made: a config the mapping refuses, or a network portod cannot join, leaves nothing to undo.
    const spec = ownedSpec(podSpec({ podId: id, config, netns: network?.portoNetns(id) }), state.instance);
    const written = state.beginCreatePod(record, config);
    let networkSetUp = false;
    try {
      if (network) {
        // The network keeps records of its own; ours must exist first (reconcilePodNetworks relies on it).
        await written;
        networkSetUp = true;
        await createInNetwork(deps, network, record, config, spec);
      } else {
        // Without a network the record and the Porto container are made together (docs/lifecycle.md).
        await settleAll([written, deps.porto.createFromSpec(spec, { start: true })]);
      }
    } catch (err) {
      await undo(deps, record, networkSetUp ? network : undefined, err);
      throw err;
    }
    state.finishCreate(id);
    // The pod's own events, as containerd sends them: kubelet keys its pod cache on them.
    emitContainerEvent(state, { type: ContainerEventType.CONTAINER_CREATED_EVENT, podId: id, containerId: id });
    emitContainerEvent(state, { type: ContainerEventType.CONTAINER_STARTED_EVENT, podId: id, containerId: id });
    deps.logger.info({ pod: id, name: config.metadata!.name, namespace: config.metadata!.namespace }, "pod sandbox running");
    return create(RunPodSandboxResponseSchema, { podSandboxId: id });
  } finally {
    state.releaseName(key);
  }
}

function validConfig(config: PodSandboxConfig | undefined): PodSandboxConfig {
  if (!config) throw invalidArgument("config", "is required");
  if (!config.metadata) throw invalidArgument("config.metadata", "is required");
  if (config.metadata.name === "") throw invalidArgument("config.metadata.name", "is required");
  return config;
}

/** Pods are the same pod when all four metadata fields match (containerd's name reservation). */
function podNameKey(config: PodSandboxConfig): string {
  const m = config.metadata!;
  return JSON.stringify([m.name, m.namespace, m.uid, m.attempt]);
}

/**
 * Sets up the pod's network and makes its Porto container, which needs only
 * the namespace, not its interfaces: it is made while the plugins run (ADD is
 * most of RunPodSandbox's time). A failed ADD waits for that creation to
 * settle, so that undo finds the container to destroy.
 */
async function createInNetwork(deps: RuntimeDeps, network: PodNetwork, record: PodRecord, config: PodSandboxConfig, spec: TContainerSpec): Promise<void> {
  let made: Promise<unknown> | undefined;
  const namespaceReady = () => {
    made = deps.porto.createFromSpec(spec, { start: true });
    // Seen below once ADD is done; until then a failure must not count as unhandled (which ends the process).
    made.catch(() => {});
  };
  const net = await network.setUp(record.id, config, { namespaceReady }).catch(async (err: unknown) => {
    await made?.catch(() => {});
    throw err;
  });
  record.netnsPath = net.netnsPath;
  record.ips = net.ips;
  await settleAll([deps.state.updatePod(record), made ?? deps.porto.createFromSpec(spec, { start: true })]);
}

/** Takes back whatever the failed call made; errors here are logged, the original one is what the caller gets. */
async function undo(deps: RuntimeDeps, record: PodRecord, network: PodNetwork | undefined, cause: unknown): Promise<void> {
  const log = deps.logger.child({ pod: record.id });
  log.warn({ err: cause instanceof Error ? cause.message : String(cause) }, "pod sandbox creation failed; undoing it");
  try {
    await deps.state.destroyQuietly(podPortoName(record.id));
    // Also after a failed setUp, which may have left a record for remove to finish.
    if (network) await network.remove(record.id);
    await deps.state.deletePod(record);
  } catch (err) {
    // The record stays: start-up reconciliation finishes the cleanup.
    log.error({ err: (err as Error).message }, "cannot undo a failed pod sandbox creation");
  }
}
