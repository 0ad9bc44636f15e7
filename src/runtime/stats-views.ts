/**
 * ContainerStats and PodSandboxStats from a record and a usage sample.
 * Attributes (metadata, labels, annotations) come from the stored config, as
 * in views.ts. CPU and memory are reported only while the container's
 * processes exist: a dead container's cgroup still holds figures in portod,
 * but containerd and cAdvisor report none for an exited container, and
 * kubelet would count a dead container's page cache towards its pod.
 */
import { create } from "@bufbuild/protobuf";
import {
  ContainerAttributesSchema,
  ContainerStatsSchema,
  LinuxPodSandboxStatsSchema,
  PodSandboxAttributesSchema,
  PodSandboxStatsSchema,
} from "../../gen/runtime/v1/api_pb.js";
import type { ContainerStats, PodSandboxStats } from "../../gen/runtime/v1/api_pb.js";
import { cpuUsageOf, filesystemUsageOf, memoryUsageOf, networkUsageOf, processUsageOf } from "../mapping/stats.js";
import type { ContainerSample, PodSample } from "./stats-collector.js";
import type { ContainerEntry, PodEntry } from "./runtime-state.js";

export function containerStatsOf(ctr: ContainerEntry, sample: ContainerSample | undefined): ContainerStats {
  const { record, config } = ctr;
  const stats = create(ContainerStatsSchema, {
    attributes: create(ContainerAttributesSchema, {
      id: record.id,
      metadata: config.metadata,
      labels: config.labels,
      annotations: config.annotations,
    }),
  });
  if (!sample) return stats;
  if (sample.live) {
    stats.cpu = cpuUsageOf(sample.usage, sample.atNs, sample.nanoCores);
    stats.memory = memoryUsageOf(sample.usage, sample.atNs);
  }
  if (sample.layer) stats.writableLayer = filesystemUsageOf(sample.layer);
  return stats;
}

export function podSandboxStatsOf(pod: PodEntry, sample: PodSample | undefined, containers: ContainerStats[]): PodSandboxStats {
  const { record, config } = pod;
  const linux = create(LinuxPodSandboxStatsSchema, { containers });
  if (sample?.live) {
    linux.cpu = cpuUsageOf(sample.usage, sample.atNs, sample.nanoCores);
    linux.memory = memoryUsageOf(sample.usage, sample.atNs);
    linux.process = processUsageOf(sample.usage, sample.atNs);
  }
  if (sample?.network) linux.network = networkUsageOf(sample.network.interfaces, sample.network.atNs);
  return create(PodSandboxStatsSchema, {
    attributes: create(PodSandboxAttributesSchema, {
      id: record.id,
      metadata: config.metadata,
      labels: config.labels,
      annotations: config.annotations,
    }),
    linux,
  });
}
