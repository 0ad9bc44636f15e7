/**
 * UpdateContainerResources: new CPU and memory settings for a container, as
 * kubelet sends them for in-place pod resize.
 *
 * The story: merge the update into the container's current resources as
 * containerd does (fields left at zero keep their value; oom_score_adj is
 * fixed at creation), turn what changed into Porto's dynamic properties, and
 * set them in one UpdateFromSpec on a created or running container (an
 * exited one only has its record changed, like containerd's spec). The new
 * resources are then kept in the record, so ContainerStatus reports them.
 *
 * A change portod refuses is reported with portod's reason: a memory limit
 * below what the container uses (portod: Busy) and a CPU limit for a
 * container created without CPU settings (portod cannot add the cgroup
 * controller to a running container: NotSupported) are FailedPrecondition, a
 * value out of range InvalidArgument. Nothing is half-applied: portod restores the
 * old values when one property is refused, and the record is written only
 * after portod accepted.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EError } from "../../../gen/rpc_pb.js";
import { ContainerState, UpdateContainerResourcesResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { UpdateContainerResourcesRequest, UpdateContainerResourcesResponse } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName } from "../../mapping/porto-names.js";
import { dynamicResourcesUpdate, mergeResources } from "../../mapping/resources.js";
import { grpcCodeOf, isPortoError } from "../../porto/errors.js";
import { containerFacts } from "../../runtime/container-state.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { containerLockKey, requireContainer } from "../../runtime/lookup.js";
import { recordContainerResources } from "../../runtime/resource-records.js";

export async function updateContainerResources(
  deps: RuntimeDeps,
  req: UpdateContainerResourcesRequest,
): Promise<UpdateContainerResourcesResponse> {
  const { state } = deps;
  const id = requireContainer(state, req.containerId).record.id;
  const update = req.linux;
  if (!update) return create(UpdateContainerResourcesResponseSchema); // nothing for Linux to change

  await state.locks.run(containerLockKey(id), async () => {
    const ctr = state.container(id);
    if (!ctr) throw new ConnectError(`container ${id} not found`, Code.NotFound);
    const name = containerPortoName(ctr.record.podId, id);
    const merged = mergeResources(ctr.config.linux?.resources, update);
    const { spec, warnings } = dynamicResourcesUpdate(ctr.config.linux?.resources, merged, { field: "linux" });
    const current = containerFacts(ctr.record, (await state.portoFacts([name])).get(name)).state;
    if (current === ContainerState.CONTAINER_UNKNOWN) {
      throw new ConnectError(`container ${id}: its Porto container is gone, so its resources cannot change`, Code.FailedPrecondition);
    }
    const live = current === ContainerState.CONTAINER_CREATED || current === ContainerState.CONTAINER_RUNNING;
    if (live && Object.keys(spec).length > 0) {
      try {
        await deps.porto.updateFromSpec({ name, ...spec });
      } catch (err) {
        throw refused(err, `container ${id}`);
      }
    }
    await recordContainerResources(state, ctr, merged);
    const log = deps.logger.child({ container: id });
    for (const w of warnings) log.warn(w);
    log.info({ resources: spec }, "container resources updated");
  });
  return create(UpdateContainerResourcesResponseSchema);
}

/** Porto codes that mean "not now, not like this" rather than "bad value". */
const PRECONDITION = new Set([EError.Busy, EError.InvalidState, EError.NotSupported, EError.ResourceNotAvailable, EError.Permission, EError.NoSpace]);

/**
 * portod's refusal as the caller should read it: its reason verbatim, with a
 * code that says whether the value (InvalidArgument) or the moment
 * (FailedPrecondition) is wrong; failures to reach portod keep their code.
 */
export function refused(err: unknown, what: string): unknown {
  if (!isPortoError(err)) return err;
  const reason = err.portoMessage || err.message;
  let code = grpcCodeOf(err.code);
  if (PRECONDITION.has(err.code)) code = Code.FailedPrecondition;
  else if (err.code === EError.InvalidValue || err.code === EError.InvalidProperty) code = Code.InvalidArgument;
  // portod adds cgroup controllers only at start: CPU settings need some at creation (kubelet always sends cpu_shares).
  const hint = err.code === EError.NotSupported && /controllers/.test(reason) ? "; it was started without CPU settings, so its CPU cannot be limited until it is recreated" : "";
  return new ConnectError(`cannot change the resources of ${what}: portod refused: ${reason} (${err.codeName})${hint}`, code, undefined, undefined, err);
}
