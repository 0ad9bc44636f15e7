/**
 * ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics:
 * cAdvisor-named series (mapping/metrics.ts) for every ready pod and its
 * running containers, from the same single Porto `get` the stats calls use.
 * Only objects whose processes exist report series, as cAdvisor reports
 * only existing cgroups.
 */
import { create } from "@bufbuild/protobuf";
import {
  ContainerMetricsSchema,
  ListMetricDescriptorsResponseSchema,
  ListPodSandboxMetricsResponseSchema,
  PodSandboxMetricsSchema,
  StreamPodSandboxMetricsResponseSchema,
} from "../../../gen/runtime/v1/api_pb.js";
import type {
  ListMetricDescriptorsResponse,
  ListPodSandboxMetricsResponse,
  PodSandboxMetrics,
  StreamPodSandboxMetricsResponse,
} from "../../../gen/runtime/v1/api_pb.js";
import { metricDescriptors, metricsOf } from "../../mapping/metrics.js";
import { containerPortoName, podPortoName } from "../../mapping/porto-names.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import type { ContainerEntry } from "../../runtime/runtime-state.js";
import { statsCollector } from "../../runtime/stats-collector.js";

/** Pods per StreamPodSandboxMetrics message. */
const STREAM_BATCH = 20;

export function listMetricDescriptors(): ListMetricDescriptorsResponse {
  return create(ListMetricDescriptorsResponseSchema, { descriptors: metricDescriptors() });
}

export async function listPodSandboxMetrics(deps: RuntimeDeps): Promise<ListPodSandboxMetricsResponse> {
  return create(ListPodSandboxMetricsResponseSchema, { podMetrics: await podMetrics(deps) });
}

export async function* streamPodSandboxMetrics(deps: RuntimeDeps): AsyncGenerator<StreamPodSandboxMetricsResponse> {
  const metrics = await podMetrics(deps);
  for (let i = 0; i < metrics.length; i += STREAM_BATCH) {
    yield create(StreamPodSandboxMetricsResponseSchema, { podSandboxMetrics: metrics.slice(i, i + STREAM_BATCH) });
  }
}

async function podMetrics(deps: RuntimeDeps): Promise<PodSandboxMetrics[]> {
  const pods = deps.state.listPods().filter((p) => p.record.state === "ready");
  if (pods.length === 0) return [];
  const byPod = new Map<string, ContainerEntry[]>(pods.map((p) => [p.record.id, []]));
  for (const c of deps.state.listContainers()) byPod.get(c.record.podId)?.push(c);
  const samples = await statsCollector(deps).collect(pods, [...byPod.values()].flat(), { metrics: true });

  const out: PodSandboxMetrics[] = [];
  for (const pod of pods) {
    const { id } = pod.record;
    const s = samples.pods.get(id);
    if (!s?.live) continue;
    const meta = pod.config.metadata;
    const podLabels = { namespace: meta?.namespace ?? "", pod: meta?.name ?? "" };
    const containerMetrics = [];
    for (const c of byPod.get(id)!) {
      const cs = samples.containers.get(c.record.id);
      if (!cs?.live) continue;
      const metrics = metricsOf(
        {
          ...podLabels,
          container: c.config.metadata?.name ?? "",
          id: c.record.id,
          image: c.record.image.requested,
          name: containerPortoName(id, c.record.id),
        },
        { usage: cs.usage, layer: cs.layer, startedAtNs: c.record.startedAtNs ? BigInt(c.record.startedAtNs) : undefined },
      );
      containerMetrics.push(create(ContainerMetricsSchema, { containerId: c.record.id, metrics }));
    }
    out.push(
      create(PodSandboxMetricsSchema, {
        podSandboxId: id,
        metrics: metricsOf(
          { ...podLabels, container: "", id, image: "", name: podPortoName(id) },
          { usage: s.usage, network: s.network?.interfaces, startedAtNs: BigInt(pod.record.createdAtNs) },
        ),
        containerMetrics,
      }),
    );
  }
  return out;
}
