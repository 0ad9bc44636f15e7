/**
 * ListPodSandbox: every visible pod, or those the filter selects: id (a full
 * id or a unique prefix, as containerd resolves it), state, and labels (all
 * of the selector's pairs must match). Porto's side comes from the Porto
 * view: no Porto request in steady state (one for all pods otherwise).
 */
import { create } from "@bufbuild/protobuf";
import { ListPodSandboxResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ListPodSandboxRequest, ListPodSandboxResponse } from "../../../gen/runtime/v1/api_pb.js";
import { POD_MASK, podPortoName } from "../../mapping/porto-names.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { matchesLabels } from "../../runtime/filters.js";
import { currentFacts } from "../../runtime/porto-view.js";
import { podSandboxOf } from "../../runtime/views.js";

export async function listPodSandbox(deps: RuntimeDeps, req: ListPodSandboxRequest): Promise<ListPodSandboxResponse> {
  const filter = req.filter;
  let pods = deps.state.listPods();
  if (filter?.id) {
    const match = deps.state.resolvePod(filter.id);
    pods = match.kind === "found" ? pods.filter((p) => p.record.id === match.id) : [];
  }
  if (filter) pods = pods.filter((p) => matchesLabels(p.config.labels, filter.labelSelector));
  if (pods.length === 0) return create(ListPodSandboxResponseSchema);

  // Asking portod (a stale view): one pod by name, more with one mask for all of them.
  const facts = await currentFacts(deps.state, pods.map((p) => podPortoName(p.record.id)), POD_MASK);
  let items = pods.map((p) => podSandboxOf(p, facts.get(podPortoName(p.record.id))));
  if (filter?.state) items = items.filter((p) => p.state === filter.state!.state);
  // Oldest first, as containerd lists them: creation order survives restarts.
  items.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  return create(ListPodSandboxResponseSchema, { items });
}
