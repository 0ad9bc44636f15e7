/**
 * CreateContainer: a Porto child of the pod's container, `k8s-<pod>/<id>`,
 * created stopped together with its root volume (built by Porto from the
 * image) in one CreateFromSpec.
 *
 * The story: check the request, find the pod (it must be ready) and the image
 * (it must have been pulled: NotFound otherwise, as containerd), refuse a
 * second container with the same name and attempt in the pod, work out the
 * Porto spec, write the record, make the root directory, create the Porto
 * container. Any failure undoes every step. The call holds the pod's lock,
 * so the pod cannot be stopped or removed half-way through.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ContainerEventType, CreateContainerResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ContainerConfig, CreateContainerRequest, CreateContainerResponse } from "../../../gen/runtime/v1/api_pb.js";
import { newId } from "../../mapping/ids.js";
import { containerPortoName, podPortoName } from "../../mapping/porto-names.js";
import { containerSpec } from "../../mapping/container-spec.js";
import { imageRootfs } from "../../runtime/image-rootfs.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { invalidArgument, podLockKey, requirePod } from "../../runtime/lookup.js";
import { ownedSpec } from "../../runtime/owned-spec.js";
import { RECORD_VERSION, encodeContainerConfig, nowNs } from "../../runtime/records.js";
import type { ContainerRecord } from "../../runtime/records.js";
import { settleAll } from "../../runtime/runtime-state.js";
import { emitContainerEvent } from "../../runtime/events.js";

export async function createContainer(deps: RuntimeDeps, req: CreateContainerRequest): Promise<CreateContainerResponse> {
  const config = validConfig(req.config);
  const { state } = deps;
  const podId = requirePod(state, req.podSandboxId).record.id;

  return state.locks.run(podLockKey(podId), async () => {
    const pod = state.pod(podId);
    if (!pod) throw new ConnectError(`pod sandbox ${podId} not found`, Code.NotFound);
    if (pod.record.state !== "ready") {
      throw new ConnectError(`pod sandbox ${podId} is not ready: it has been stopped`, Code.FailedPrecondition);
    }

    const key = JSON.stringify([podId, config.metadata!.name, config.metadata!.attempt]);
    const taken = () =>
      state.listContainers(podId).some((c) => JSON.stringify([podId, c.config.metadata?.name, c.config.metadata?.attempt]) === key);
    if (!state.reserveName(key, taken)) {
      throw new ConnectError(
        `a container named ${JSON.stringify(config.metadata!.name)} with attempt ${config.metadata!.attempt} already exists in pod sandbox ${podId}`,
        Code.AlreadyExists,
      );
    }
    try {
      const imageRef = config.image!.image;
      const image = await deps.images.resolve(imageRef);
      if (!image) throw new ConnectError(`image ${JSON.stringify(imageRef)} not found: pull it first`, Code.NotFound);

      const id = newId();
      const rootPath = join(deps.volumesDir, id);
      // Invalid configs are refused here (InvalidArgument naming the field), before anything exists.
      const built = containerSpec({
        podId,
        containerId: id,
        pod: pod.config,
        container: config,
        image: image.config,
        imageName: image.portoName,
        rootfs: deps.imagesDir ? imageRootfs(deps.imagesDir, image.id) : undefined,
        host: deps.host,
        minOomScoreAdj: deps.minOomScoreAdj,
        rootVolumePath: rootPath,
      });
      for (const warning of built.warnings) deps.logger.warn({ pod: podId, container: id, warning }, "container config not fully applied");
      const record: ContainerRecord = {
        v: RECORD_VERSION,
        id,
        podId,
        config: encodeContainerConfig(config),
        createdAtNs: nowNs().toString(),
        image: { requested: imageRef, id: image.id, ref: image.ref, name: image.portoName },
        logPath: pod.config.logDirectory && config.logPath ? join(pod.config.logDirectory, config.logPath) : "",
        stopSignal: built.stopSignal,
        user: {
          uid: String(built.user.uid),
          gid: String(built.user.gid),
          supplementalGroups: built.user.additionalGids.map(String),
        },
        rootPath,
      };

      try {
        // The record and the Porto container are made together (see docs/lifecycle.md, crash safety):
        // the id is handed out only once both exist.
        await settleAll([
          state.beginCreateContainer(record, config),
          (async () => {
            await mkdir(rootPath, { recursive: true, mode: 0o755 });
            // Porto checks a child's devices against its parent's: the pod allows them first (rules only add).
            if (built.podDevices) await deps.porto.updateFromSpec({ name: podPortoName(podId), devices: built.podDevices });
            await deps.porto.createFromSpec(ownedSpec(built.spec, state.instance), { volumes: built.volumes });
          })(),
        ]);
      } catch (err) {
        await undo(deps, record, err);
        throw err;
      }
      state.finishCreate(id);
      emitContainerEvent(state, { type: ContainerEventType.CONTAINER_CREATED_EVENT, podId, containerId: id });
      return create(CreateContainerResponseSchema, { containerId: id });
    } finally {
      state.releaseName(key);
    }
  });
}

function validConfig(config: ContainerConfig | undefined): ContainerConfig {
  if (!config) throw invalidArgument("config", "is required");
  if (!config.metadata) throw invalidArgument("config.metadata", "is required");
  if (config.metadata.name === "") throw invalidArgument("config.metadata.name", "is required");
  if (!config.image || config.image.image === "") throw invalidArgument("config.image.image", "is required");
  return config;
}

async function undo(deps: RuntimeDeps, record: ContainerRecord, cause: unknown): Promise<void> {
  const log = deps.logger.child({ container: record.id, pod: record.podId });
  log.warn({ err: cause instanceof Error ? cause.message : String(cause) }, "container creation failed; undoing it");
  try {
    await deps.state.destroyQuietly(containerPortoName(record.podId, record.id));
    await deps.state.deleteContainer(record);
  } catch (err) {
    log.error({ err: (err as Error).message }, "cannot undo a failed container creation");
  }
}
