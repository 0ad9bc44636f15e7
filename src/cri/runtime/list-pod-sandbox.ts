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
import { byCreation, podSandboxListItem } from "../../runtime/views.js";
import { encodedList } from "../encoded-list.js";
import { podState } from "../../runtime/container-state.js";

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
  let listed = pods.map((p) => ({ p, state: podState(p.record, facts.get(podPortoName(p.record.id))) }));
  if (filter?.state) listed = listed.filter((x) => x.state === filter.state!.state);
  listed.sort((a, b) => byCreation(a.p.record, b.p.record));
  // Each pod's unchanging fields are encoded once (cri/encoded-list.ts): kubelet asks every second.
  return encodedList(ListPodSandboxResponseSchema, ListPodSandboxResponseSchema.field.items.number, listed.map((x) => podSandboxListItem(x.p, x.state)));
}
