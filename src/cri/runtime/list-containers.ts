/**
 * ListContainers: every visible container, or those the filter selects: id
 * and pod sandbox id (full ids or unique prefixes), state and labels.
 * Porto's side comes from the Porto view: no Porto request in steady state
 * (one for all of them otherwise).
 */
import { create } from "@bufbuild/protobuf";
import { ContainerState, ListContainersResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ListContainersRequest, ListContainersResponse } from "../../../gen/runtime/v1/api_pb.js";
import { CONTAINER_MASK, containerPortoName } from "../../mapping/porto-names.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { matchesLabels } from "../../runtime/filters.js";
import { currentFacts } from "../../runtime/porto-view.js";
import { byCreation, containerListItem } from "../../runtime/views.js";
import { containerFacts } from "../../runtime/container-state.js";
import { encodedList } from "../encoded-list.js";

export async function listContainers(deps: RuntimeDeps, req: ListContainersRequest): Promise<ListContainersResponse> {
  const { state } = deps;
  const filter = req.filter;
  let podId: string | undefined;
  if (filter?.podSandboxId) {
    const match = state.resolvePod(filter.podSandboxId);
    if (match.kind !== "found") return create(ListContainersResponseSchema);
    podId = match.id;
  }
  let containers = state.listContainers(podId);
  if (filter?.id) {
    const match = state.resolveContainer(filter.id);
    containers = match.kind === "found" ? containers.filter((c) => c.record.id === match.id) : [];
  }
  if (filter) containers = containers.filter((c) => matchesLabels(c.config.labels, filter.labelSelector));
  if (containers.length === 0) return create(ListContainersResponseSchema);

  const names = containers.map((c) => containerPortoName(c.record.podId, c.record.id));
  const facts = await currentFacts(state, names, CONTAINER_MASK);
  let listed = containers.map((c, i) => ({ c, state: containerFacts(c.record, facts.get(names[i])).state }));
  if (filter?.state) listed = listed.filter((x) => x.state === filter.state!.state);
  // As in ContainerStatus: a container reads EXITED only once its log is complete (cheap after the first time).
  const exited = listed.filter((x) => x.state === ContainerState.CONTAINER_EXITED);
  if (deps.logs && exited.length > 0) await Promise.all(exited.map((x) => deps.logs!.flush(x.c.record.id)));
  listed.sort((a, b) => byCreation(a.c.record, b.c.record));
  // Each container's unchanging fields are encoded once (cri/encoded-list.ts): kubelet asks every second.
  return encodedList(ListContainersResponseSchema, ListContainersResponseSchema.field.containers.number, listed.map((x) => containerListItem(x.c, x.state)));
}
