/**
 * What a pod tells its CNI plugins, built the way containerd's CRI plugin
 * builds it (toCNILabels, toCNIPortMappings, toCNIBandWidth, the DNS and
 * pod-annotations capabilities), so that plugins written against containerd
 * see the same CNI_ARGS and runtimeConfig from us. Pure functions.
 */
import { Protocol } from "../../gen/runtime/v1/api_pb.js";
import type { DNSConfig, PodSandboxConfig, PortMapping } from "../../gen/runtime/v1/api_pb.js";

/** Bandwidth limits in bits per second and bits, the bandwidth plugin's units. */
export interface CniBandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** The pod facts the network set-up needs; fields are those of the CRI PodSandboxConfig. */
export interface PodNetworkInput {
  /** The pod sandbox id (CNI_CONTAINERID, K8S_POD_INFRA_CONTAINER_ID). */
  id: string;
  name: string;
  namespace: string;
  uid: string;
  annotations: Readonly<Record<string, string>>;
  portMappings: ReadonlyArray<Pick<PortMapping, "protocol" | "containerPort" | "hostPort" | "hostIp">>;
  dnsConfig?: Pick<DNSConfig, "servers" | "searches" | "options">;
  /** Limits to pass; when absent they are read from the kubernetes.io/*-bandwidth annotations. */
  bandwidth?: CniBandwidth;
}

/** The network input of pod `id` from its RunPodSandbox config. */
export function podNetworkInput(id: string, config: Pick<PodSandboxConfig, "metadata" | "annotations" | "portMappings" | "dnsConfig">): PodNetworkInput {
  const m = config.metadata;
  return {
    id,
    name: m?.name ?? "",
    namespace: m?.namespace ?? "",
    uid: m?.uid ?? "",
    annotations: config.annotations,
    portMappings: config.portMappings,
    dnsConfig: config.dnsConfig,
  };
}

/** The annotations kubelet documents for pod traffic shaping. */
export const INGRESS_BANDWIDTH_ANNOTATION = "kubernetes.io/ingress-bandwidth";
export const EGRESS_BANDWIDTH_ANNOTATION = "kubernetes.io/egress-bandwidth";

/** containerd's capability name for the pod's annotations. */
export const POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations";

/** kubelet refuses shaping outside 1k..1P bits/s (bandwidth.ExtractPodBandwidthResources). */
const MIN_BANDWIDTH = 1e3;
const MAX_BANDWIDTH = 1e15;
/** containerd passes this as the burst whenever a rate is set. */
const DEFAULT_BURST = 2 ** 32 - 1;

/** A pod input the CNI conventions cannot carry. */
export class PodNetworkInputError extends Error {
  override name = "PodNetworkInputError";
}

/** CNI_ARGS: containerd's labels, IgnoreUnknown first so plugins that know none of them accept them. */
export function cniArgs(pod: PodNetworkInput): Array<[string, string]> {
  const args: Array<[string, string]> = [
    ["IgnoreUnknown", "1"],
    ["K8S_POD_NAMESPACE", pod.namespace],
    ["K8S_POD_NAME", pod.name],
    ["K8S_POD_INFRA_CONTAINER_ID", pod.id],
    ["K8S_POD_UID", pod.uid],
  ];
  for (const [k, v] of args) {
    if (v.includes(";")) throw new PodNetworkInputError(`${k} ${JSON.stringify(v)} contains ";", which CNI_ARGS cannot carry`);
  }
  return args;
}

/**
 * runtimeConfig capability arguments. portMappings and the pod annotations
 * are always offered (containerd does; an empty list tells portmap there is
 * nothing to map), bandwidth and dns only when the pod has them, ipRanges
 * only when the node's pod CIDRs are known (UpdateRuntimeConfig).
 */
export function capabilityArgs(pod: PodNetworkInput, podCidrs: readonly string[] = []): Record<string, unknown> {
  const caps: Record<string, unknown> = {
    portMappings: portMappings(pod.portMappings),
    [POD_ANNOTATIONS_CAPABILITY]: { ...pod.annotations },
  };
  const bw = pod.bandwidth ?? bandwidthFromAnnotations(pod.annotations);
  if (bw !== undefined) caps.bandwidth = bw;
  if (pod.dnsConfig !== undefined) {
    caps.dns = { servers: [...pod.dnsConfig.servers], searches: [...pod.dnsConfig.searches], options: [...pod.dnsConfig.options] };
  }
  if (podCidrs.length > 0) caps.ipRanges = podCidrs.map((subnet) => [{ subnet }]);
  return caps;
}

/** CRI port mappings as the portMappings capability; those without a host port are for port-forward only. */
export function portMappings(
  mappings: PodNetworkInput["portMappings"],
): Array<{ hostPort: number; containerPort: number; protocol: string; hostIP?: string }> {
  return mappings
    .filter((m) => m.hostPort > 0)
    .map((m) => {
      const out: { hostPort: number; containerPort: number; protocol: string; hostIP?: string } = {
        hostPort: m.hostPort,
        containerPort: m.containerPort,
        protocol: protocolName(m.protocol),
      };
      if (m.hostIp !== "") out.hostIP = m.hostIp;
      return out;
    });
}

function protocolName(p: Protocol): string {
  switch (p) {
    case Protocol.TCP:
      return "tcp";
    case Protocol.UDP:
      return "udp";
    case Protocol.SCTP:
      return "sctp";
    default:
      throw new PodNetworkInputError(`unknown port mapping protocol ${String(p)}`);
  }
}

/**
 * The bandwidth capability from the kubernetes.io/ingress-bandwidth and
 * egress-bandwidth annotations (Kubernetes quantities in bits per second,
 * such as "10M"), or undefined when neither is set.
 */
export function bandwidthFromAnnotations(annotations: Readonly<Record<string, string>>): CniBandwidth | undefined {
  const ingress = annotations[INGRESS_BANDWIDTH_ANNOTATION];
  const egress = annotations[EGRESS_BANDWIDTH_ANNOTATION];
  if (ingress === undefined && egress === undefined) return undefined;
  const bw: CniBandwidth = {};
  if (ingress !== undefined) {
    bw.ingressRate = bandwidthValue(INGRESS_BANDWIDTH_ANNOTATION, ingress);
    bw.ingressBurst = DEFAULT_BURST;
  }
  if (egress !== undefined) {
    bw.egressRate = bandwidthValue(EGRESS_BANDWIDTH_ANNOTATION, egress);
    bw.egressBurst = DEFAULT_BURST;
  }
  return bw;
}

function bandwidthValue(key: string, text: string): number {
  const v = parseQuantity(text);
  if (v === undefined) throw new PodNetworkInputError(`annotation ${key}: ${JSON.stringify(text)} is not a quantity such as "10M"`);
  if (v < MIN_BANDWIDTH) throw new PodNetworkInputError(`annotation ${key}: ${text} is below the minimum of 1k`);
  if (v > MAX_BANDWIDTH) throw new PodNetworkInputError(`annotation ${key}: ${text} is above the maximum of 1P`);
  return Math.ceil(v);
}

const QUANTITY_SUFFIX: Readonly<Record<string, number>> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity ("10M", "1.5Gi", "100k", "1e6"), or undefined if it is not one. */
export function parseQuantity(text: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number.parseFloat(m[1]! + (m[2] ?? ""));
  return n * QUANTITY_SUFFIX[m[3] ?? ""]!;
}
