/**
 * CRI messages built from a record and Porto's facts: what ListPodSandbox,
 * PodSandboxStatus, ListContainers and ContainerStatus answer. Metadata,
 * labels and annotations come from the stored config, so they are exactly
 * what the creating call sent.
 */
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import {
  ContainerConfigSchema,
  ContainerResourcesSchema,
  ContainerSchema,
  ContainerStatusSchema,
  ContainerUserSchema,
  ImageSpecSchema,
  LinuxContainerUserSchema,
  LinuxPodSandboxStatusSchema,
  MountSchema,
  NamespaceOptionSchema,
  NamespaceSchema,
  PodSandboxConfigSchema,
  PodSandboxNetworkStatusSchema,
  PodSandboxSchema,
  PodSandboxStatusSchema,
  PodIPSchema,
  Signal,
} from "../../gen/runtime/v1/api_pb.js";
import type { ContainerState, PodSandboxState } from "../../gen/runtime/v1/api_pb.js";
import type { ContainerStatus, PodSandboxStatus } from "../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../mapping/porto-names.js";
import { containerFacts, podState, signalName } from "./container-state.js";
import type { PortoFacts } from "./container-state.js";
import type { ContainerEntry, PodEntry } from "./runtime-state.js";
import { encodeOnce } from "../cri/encoded-list.js";
import type { EncodedItem } from "../cri/encoded-list.js";

/**
 * A pod as ListPodSandbox sends it (cri/encoded-list.ts): everything but the
 * state is fixed at creation and encoded once per pod.
 */
export function podSandboxListItem(pod: PodEntry, state: PodSandboxState): EncodedItem {
  const { record, config } = pod;
  const fixed = encodeOnce(config, () =>
    toBinary(
      PodSandboxSchema,
      create(PodSandboxSchema, {
        id: record.id,
        metadata: config.metadata,
        createdAt: BigInt(record.createdAtNs),
        labels: config.labels,
        annotations: config.annotations,
        runtimeHandler: record.runtimeHandler,
      }),
    ),
  );
  return { fixed, enumField: PodSandboxSchema.field.state.number, enumValue: state };
}

export function podSandboxStatusOf(pod: PodEntry, facts: PortoFacts | undefined): PodSandboxStatus {
  const { record, config } = pod;
  const [ip = "", ...more] = record.ips ?? [];
  const options = config.linux?.securityContext?.namespaceOptions;
  return create(PodSandboxStatusSchema, {
    id: record.id,
    metadata: config.metadata,
    state: podState(record, facts),
    createdAt: BigInt(record.createdAtNs),
    network: create(PodSandboxNetworkStatusSchema, {
      ip,
      additionalIps: more.map((a) => create(PodIPSchema, { ip: a })),
    }),
    linux: create(LinuxPodSandboxStatusSchema, {
      namespaces: create(NamespaceSchema, { options: options ?? create(NamespaceOptionSchema) }),
    }),
    labels: config.labels,
    annotations: config.annotations,
    runtimeHandler: record.runtimeHandler,
  });
}

/** PodSandboxStatus's verbose info: one JSON document under "info", as containerd gives it. */
export function podVerboseInfo(pod: PodEntry, facts: PortoFacts | undefined): Record<string, string> {
  return {
    info: JSON.stringify({
      portoName: podPortoName(pod.record.id),
      portoState: facts?.state ?? "absent",
      netnsPath: pod.record.netnsPath ?? "",
      podCidr: pod.record.podCidr ?? "",
      runtimeHandler: pod.record.runtimeHandler,
      config: toJson(PodSandboxConfigSchema, pod.config),
    }),
  };
}

/**
 * A container as ListContainers sends it (cri/encoded-list.ts): everything
 * but the state is fixed at creation and encoded once per container.
 */
export function containerListItem(ctr: ContainerEntry, state: ContainerState): EncodedItem {
  const { record, config } = ctr;
  const fixed = encodeOnce(config, () =>
    toBinary(
      ContainerSchema,
      create(ContainerSchema, {
        id: record.id,
        podSandboxId: record.podId,
        metadata: config.metadata,
        image: imageSpecOf(ctr),
        imageRef: record.image.ref,
        imageId: record.image.id,
        createdAt: BigInt(record.createdAtNs),
        labels: config.labels,
        annotations: config.annotations,
      }),
    ),
  );
  return { fixed, enumField: ContainerSchema.field.state.number, enumValue: state };
}

/** Oldest first, as containerd lists pods and containers: creation order survives restarts. */
export function byCreation(a: { createdAtNs: string }, b: { createdAtNs: string }): number {
  const [x, y] = [BigInt(a.createdAtNs), BigInt(b.createdAtNs)];
  return x < y ? -1 : x > y ? 1 : 0;
}

export function containerStatusOf(ctr: ContainerEntry, facts: PortoFacts | undefined): ContainerStatus {
  const { record, config } = ctr;
  const f = containerFacts(record, facts);
  const resources = config.linux?.resources;
  return create(ContainerStatusSchema, {
    id: record.id,
    metadata: config.metadata,
    state: f.state,
    createdAt: f.createdAt,
    startedAt: f.startedAt,
    finishedAt: f.finishedAt,
    exitCode: f.exitCode,
    image: imageSpecOf(ctr),
    imageRef: record.image.ref,
    imageId: record.image.id,
    reason: f.reason,
    message: f.message,
    labels: config.labels,
    annotations: config.annotations,
    mounts: config.mounts.map((m) => create(MountSchema, m)),
    logPath: record.logPath,
    resources: resources ? create(ContainerResourcesSchema, { linux: resources }) : undefined,
    user: record.user
      ? create(ContainerUserSchema, {
          linux: create(LinuxContainerUserSchema, {
            uid: BigInt(record.user.uid),
            gid: BigInt(record.user.gid),
            supplementalGroups: record.user.supplementalGroups.map(BigInt),
          }),
        })
      : undefined,
    stopSignal: criSignal(record.stopSignal),
  });
}

/** ContainerStatus's verbose info. */
export function containerVerboseInfo(ctr: ContainerEntry, facts: PortoFacts | undefined): Record<string, string> {
  const { record, config } = ctr;
  return {
    info: JSON.stringify({
      sandboxID: record.podId,
      portoName: containerPortoName(record.podId, record.id),
      portoState: facts?.state ?? "absent",
      rootPath: record.rootPath ?? "",
      image: record.image,
      stopSignal: signalName(record.stopSignal),
      config: toJson(ContainerConfigSchema, config),
    }),
  };
}

/** The image as the container was created with it; its id when the config named none. */
function imageSpecOf(ctr: ContainerEntry) {
  const spec = ctr.config.image;
  return spec ? create(ImageSpecSchema, spec) : create(ImageSpecSchema, { image: ctr.record.image.id });
}

/** A signal number as CRI's Signal enum (RUNTIME_DEFAULT when CRI has no name for it). */
export function criSignal(signal: number): Signal {
  const value = (Signal as unknown as Record<string, number | undefined>)[signalName(signal)];
  return value ?? Signal.RUNTIME_DEFAULT;
}
