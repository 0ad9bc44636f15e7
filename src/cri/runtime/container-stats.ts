/**
 * ContainerStats, ListContainerStats and StreamContainerStats: cumulative
 * CPU in nanoseconds and its rate, memory (usage, working set, RSS,
 * available, page faults) and the writable layer of each container, from
 * one Porto `get` for all of them (runtime/stats-collector.ts).
 *
 * Filters as containerd applies them: id and pod sandbox id are full ids or
 * unique prefixes, the label selector must match every pair; every container
 * is listed whatever its state (an exited one has no CPU or memory figures).
 */
import { create } from "@bufbuild/protobuf";
import { ContainerStatsResponseSchema, ListContainerStatsResponseSchema, StreamContainerStatsResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type {
  ContainerStats,
  ContainerStatsFilter,
  ContainerStatsRequest,
  ContainerStatsResponse,
  ListContainerStatsRequest,
  ListContainerStatsResponse,
  StreamContainerStatsRequest,
  StreamContainerStatsResponse,
} from "../../../gen/runtime/v1/api_pb.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { matchesLabels } from "../../runtime/filters.js";
import { requireContainer } from "../../runtime/lookup.js";
import type { ContainerEntry } from "../../runtime/runtime-state.js";
import { statsCollector } from "../../runtime/stats-collector.js";
import { containerStatsOf } from "../../runtime/stats-views.js";

/** Containers per StreamContainerStats message. */
const STREAM_BATCH = 100;

export async function containerStats(deps: RuntimeDeps, req: ContainerStatsRequest): Promise<ContainerStatsResponse> {
  const ctr = requireContainer(deps.state, req.containerId);
  const [stats] = await statsOf(deps, [ctr]);
  return create(ContainerStatsResponseSchema, { stats });
}

export async function listContainerStats(deps: RuntimeDeps, req: ListContainerStatsRequest): Promise<ListContainerStatsResponse> {
  return create(ListContainerStatsResponseSchema, { stats: await statsOf(deps, selected(deps, req.filter)) });
}

/** The same list in batches; no message when no container matches. */
export async function* streamContainerStats(deps: RuntimeDeps, req: StreamContainerStatsRequest): AsyncGenerator<StreamContainerStatsResponse> {
  const stats = await statsOf(deps, selected(deps, req.filter));
  for (let i = 0; i < stats.length; i += STREAM_BATCH) {
    yield create(StreamContainerStatsResponseSchema, { containerStats: stats.slice(i, i + STREAM_BATCH) });
  }
}

/** Containers the filter selects; an id or pod id that names nothing selects nothing. */
export function selected(deps: RuntimeDeps, filter: ContainerStatsFilter | undefined): ContainerEntry[] {
  const { state } = deps;
  let podId: string | undefined;
  if (filter?.podSandboxId) {
    const match = state.resolvePod(filter.podSandboxId);
    if (match.kind !== "found") return [];
    podId = match.id;
  }
  let containers = state.listContainers(podId);
  if (filter?.id) {
    const match = state.resolveContainer(filter.id);
    containers = match.kind === "found" ? containers.filter((c) => c.record.id === match.id) : [];
  }
  if (filter) containers = containers.filter((c) => matchesLabels(c.config.labels, filter.labelSelector));
  return containers;
}

async function statsOf(deps: RuntimeDeps, containers: ContainerEntry[]): Promise<ContainerStats[]> {
  if (containers.length === 0) return [];
  const samples = await statsCollector(deps).collect([], containers);
  return containers.map((c) => containerStatsOf(c, samples.containers.get(c.record.id)));
}
