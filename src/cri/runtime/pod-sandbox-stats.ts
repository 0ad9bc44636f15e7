/**
 * PodSandboxStats, ListPodSandboxStats and StreamPodSandboxStats: the pod's
 * own figures (its Porto container's cgroups hold its containers', so CPU,
 * memory and process count are the pod's totals), its network interfaces,
 * and the stats of each of its containers. One Porto `get` and one
 * `listVolumes` for every pod and container in the answer.
 *
 * The list holds ready pods only, as containerd's: a stopped pod is on its
 * way out and kubelet does not account it. A single pod is answered in any
 * state (a stopped one without CPU and memory figures).
 */
import { create } from "@bufbuild/protobuf";
import {
  ListPodSandboxStatsResponseSchema,
  PodSandboxStatsResponseSchema,
  StreamPodSandboxStatsResponseSchema,
} from "../../../gen/runtime/v1/api_pb.js";
import type {
  ListPodSandboxStatsRequest,
  ListPodSandboxStatsResponse,
  PodSandboxStats,
  PodSandboxStatsFilter,
  PodSandboxStatsRequest,
  PodSandboxStatsResponse,
  StreamPodSandboxStatsRequest,
  StreamPodSandboxStatsResponse,
} from "../../../gen/runtime/v1/api_pb.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { matchesLabels } from "../../runtime/filters.js";
import { requirePod } from "../../runtime/lookup.js";
import type { ContainerEntry, PodEntry } from "../../runtime/runtime-state.js";
import { statsCollector } from "../../runtime/stats-collector.js";
import { containerStatsOf, podSandboxStatsOf } from "../../runtime/stats-views.js";

/** Pods per StreamPodSandboxStats message (each carries its containers). */
const STREAM_BATCH = 50;

export async function podSandboxStats(deps: RuntimeDeps, req: PodSandboxStatsRequest): Promise<PodSandboxStatsResponse> {
  const pod = requirePod(deps.state, req.podSandboxId);
  const [stats] = await statsOf(deps, [pod]);
  return create(PodSandboxStatsResponseSchema, { stats });
}

export async function listPodSandboxStats(deps: RuntimeDeps, req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> {
  return create(ListPodSandboxStatsResponseSchema, { stats: await statsOf(deps, selected(deps, req.filter)) });
}

/** The same list in batches; no message when no pod matches. */
export async function* streamPodSandboxStats(deps: RuntimeDeps, req: StreamPodSandboxStatsRequest): AsyncGenerator<StreamPodSandboxStatsResponse> {
  const stats = await statsOf(deps, selected(deps, req.filter));
  for (let i = 0; i < stats.length; i += STREAM_BATCH) {
    yield create(StreamPodSandboxStatsResponseSchema, { podSandboxStats: stats.slice(i, i + STREAM_BATCH) });
  }
}

/** Ready pods the filter selects (id: full or unique prefix; every label pair must match). */
export function selected(deps: RuntimeDeps, filter: PodSandboxStatsFilter | undefined): PodEntry[] {
  let pods = deps.state.listPods().filter((p) => p.record.state === "ready");
  if (filter?.id) {
    const match = deps.state.resolvePod(filter.id);
    pods = match.kind === "found" ? pods.filter((p) => p.record.id === match.id) : [];
  }
  if (filter) pods = pods.filter((p) => matchesLabels(p.config.labels, filter.labelSelector));
  return pods;
}

async function statsOf(deps: RuntimeDeps, pods: PodEntry[]): Promise<PodSandboxStats[]> {
  if (pods.length === 0) return [];
  const byPod = new Map<string, ContainerEntry[]>(pods.map((p) => [p.record.id, []]));
  for (const c of deps.state.listContainers()) byPod.get(c.record.podId)?.push(c);
  const containers = pods.map((p) => byPod.get(p.record.id)!);
  const samples = await statsCollector(deps).collect(pods, containers.flat());
  return pods.map((p, i) =>
    podSandboxStatsOf(
      p,
      samples.pods.get(p.record.id),
      containers[i].map((c) => containerStatsOf(c, samples.containers.get(c.record.id))),
    ),
  );
}
