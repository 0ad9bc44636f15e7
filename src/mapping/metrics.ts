/**
 * ListMetricDescriptors and ListPodSandboxMetrics in cAdvisor's vocabulary,
 * so that kubelet's /metrics/cadvisor (taken from the runtime when kubelet
 * has PodAndContainerStatsFromCRI) keeps the names and labels dashboards and
 * alerts use: container_cpu_usage_seconds_total, container_memory_working_set_bytes,
 * ... labelled container, id, image, name, namespace, pod as cAdvisor's are
 * under kubelet. Pod-level series (the pod's Porto container, which holds all
 * of its containers) have container="" like cAdvisor's pod cgroup; network
 * series are pod-level, since the pod's containers share its namespace.
 *
 * CRI carries every value as a uint64 (kubelet turns it into a float), so
 * second counters are whole seconds, as CRI-O reports them; the exact
 * nanoseconds are in ContainerStats.
 *
 * Pure: figures in (mapping/stats.ts), Metric messages out.
 */
import { create } from "@bufbuild/protobuf";
import { MetricDescriptorSchema, MetricSchema, MetricType, UInt64ValueSchema } from "../../gen/runtime/v1/api_pb.js";
import type { Metric, MetricDescriptor } from "../../gen/runtime/v1/api_pb.js";
import { memoryFigures, quotaOf, sharesOf } from "./stats.js";
import type { InterfaceCounters, LayerFigures, PortoUsage } from "./stats.js";

/** The labels of every series, in this order (cAdvisor's under kubelet, sorted). */
export const BASE_LABEL_KEYS = ["container", "id", "image", "name", "namespace", "pod"] as const;

/** Values for BASE_LABEL_KEYS. */
export interface MetricLabels {
  /** Container name from its metadata; "" for the pod itself. */
  container: string;
  /** CRI id of the container or pod. */
  id: string;
  /** Image as the container was created with it; "" for the pod. */
  image: string;
  /** Porto container name. */
  name: string;
  namespace: string;
  pod: string;
}

/** What one container's or pod's series are computed from. */
export interface MetricInput {
  /** Porto's figures while the processes exist; nothing is reported without them. */
  usage: PortoUsage;
  layer?: LayerFigures;
  /** The pod's interfaces (pod-level only). */
  network?: readonly InterfaceCounters[];
  /** When the container started (or the pod was created), Unix nanoseconds. */
  startedAtNs?: bigint;
}

interface Value {
  extra?: string[];
  value: bigint | undefined;
}

interface Family {
  name: string;
  help: string;
  type: MetricType;
  extraKeys?: string[];
  values(input: MetricInput): Value[];
}

const NS_PER_S = 1_000_000_000n;
const { COUNTER, GAUGE } = MetricType;

const one = (value: bigint | undefined): Value[] => [{ value }];
const seconds = (ns: bigint | undefined) => (ns === undefined ? undefined : ns / NS_PER_S);
const mem = (i: MetricInput) => memoryFigures(i.usage);

function netFamily(name: string, help: string, pick: (i: InterfaceCounters) => bigint): Family {
  return {
    name,
    help,
    type: COUNTER,
    extraKeys: ["interface"],
    values: (i) => (i.network ?? []).map((n) => ({ extra: [n.name], value: pick(n) })),
  };
}

function faults(i: MetricInput): Value[] {
  const stat = i.usage.memoryStat;
  const out: Value[] = [];
  for (const [type, key] of [
    ["pgfault", "pgfault"],
    ["pgmajfault", "pgmajfault"],
  ] as const) {
    out.push({ extra: [type, "container"], value: stat?.get(key) });
    out.push({ extra: [type, "hierarchy"], value: stat?.get(`total_${key}`) });
  }
  return out;
}

const FAMILIES: Family[] = [
  {
    name: "container_cpu_usage_seconds_total",
    help: "Cumulative cpu time consumed in seconds.",
    type: COUNTER,
    extraKeys: ["cpu"],
    values: (i) => [{ extra: ["total"], value: seconds(i.usage.cpuUsageNs) }],
  },
  {
    name: "container_cpu_user_seconds_total",
    help: "Cumulative user cpu time consumed in seconds.",
    type: COUNTER,
    values: (i) => {
      const { cpuUsageNs: all, cpuSystemNs: sys } = i.usage;
      return one(all !== undefined && sys !== undefined && all >= sys ? seconds(all - sys) : undefined);
    },
  },
  {
    name: "container_cpu_system_seconds_total",
    help: "Cumulative system cpu time consumed in seconds.",
    type: COUNTER,
    values: (i) => one(seconds(i.usage.cpuSystemNs)),
  },
  {
    name: "container_memory_usage_bytes",
    help: "Current memory usage in bytes, including all memory regardless of when it was accessed",
    type: GAUGE,
    values: (i) => one(mem(i)?.usageBytes),
  },
  {
    name: "container_memory_working_set_bytes",
    help: "Current working set in bytes.",
    type: GAUGE,
    values: (i) => one(mem(i)?.workingSetBytes),
  },
  { name: "container_memory_rss", help: "Size of RSS in bytes.", type: GAUGE, values: (i) => one(mem(i)?.rssBytes) },
  { name: "container_memory_cache", help: "Number of bytes of page cache memory.", type: GAUGE, values: (i) => one(mem(i)?.cacheBytes) },
  {
    name: "container_memory_mapped_file",
    help: "Size of memory mapped files in bytes.",
    type: GAUGE,
    values: (i) => one(mem(i)?.mappedFileBytes),
  },
  { name: "container_memory_swap", help: "Container swap usage in bytes.", type: GAUGE, values: (i) => one(mem(i)?.swapBytes) },
  {
    name: "container_memory_failures_total",
    help: "Cumulative count of memory allocation failures.",
    type: COUNTER,
    extraKeys: ["failure_type", "scope"],
    values: faults,
  },
  {
    name: "container_oom_events_total",
    help: "Count of out of memory events observed for the container",
    type: COUNTER,
    values: (i) => one(i.usage.oomKills),
  },
  {
    name: "container_processes",
    help: "Number of processes running inside the container.",
    type: GAUGE,
    values: (i) => one(i.usage.processCount),
  },
  {
    name: "container_threads",
    help: "Number of threads running inside the container",
    type: GAUGE,
    values: (i) => one(i.usage.threadCount),
  },
  {
    name: "container_spec_memory_limit_bytes",
    help: "Memory limit for the container.",
    type: GAUGE,
    values: (i) => one(i.usage.memoryLimit),
  },
  {
    name: "container_spec_cpu_period",
    help: "CPU period of the container.",
    type: GAUGE,
    values: (i) => one(i.usage.cpuPeriodNs === undefined ? undefined : i.usage.cpuPeriodNs / 1000n),
  },
  {
    name: "container_spec_cpu_quota",
    help: "CPU quota of the container.",
    type: GAUGE,
    values: (i) => {
      const { cpuLimitCores: limit, cpuPeriodNs: period } = i.usage;
      return one(limit !== undefined && period !== undefined ? quotaOf(limit, period) : undefined);
    },
  },
  {
    name: "container_spec_cpu_shares",
    help: "CPU share of the container.",
    type: GAUGE,
    values: (i) => one(i.usage.cpuGuaranteeCores === undefined ? undefined : sharesOf(i.usage.cpuGuaranteeCores)),
  },
  {
    name: "container_fs_usage_bytes",
    help: "Number of bytes that are consumed by the container on this filesystem.",
    type: GAUGE,
    extraKeys: ["device"],
    values: (i) => (i.layer ? [{ extra: [i.layer.mountpoint], value: i.layer.bytes }] : []),
  },
  {
    name: "container_fs_inodes_used",
    help: "Number of inodes used by the container on this filesystem.",
    type: GAUGE,
    extraKeys: ["device"],
    values: (i) => (i.layer ? [{ extra: [i.layer.mountpoint], value: i.layer.inodes }] : []),
  },
  netFamily("container_network_receive_bytes_total", "Cumulative count of bytes received", (n) => n.rxBytes),
  netFamily("container_network_receive_packets_total", "Cumulative count of packets received", (n) => n.rxPackets),
  netFamily("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", (n) => n.rxDropped),
  netFamily("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", (n) => n.rxErrors),
  netFamily("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", (n) => n.txBytes),
  netFamily("container_network_transmit_packets_total", "Cumulative count of packets transmitted", (n) => n.txPackets),
  netFamily("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", (n) => n.txDropped),
  netFamily("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", (n) => n.txErrors),
  {
    name: "container_start_time_seconds",
    help: "Start time of the container since unix epoch in seconds.",
    type: GAUGE,
    values: (i) => one(seconds(i.startedAtNs)),
  },
];

/** Every metric this runtime reports; fixed for the process' lifetime, as kubelet requires. */
export function metricDescriptors(): MetricDescriptor[] {
  return FAMILIES.map((f) =>
    create(MetricDescriptorSchema, { name: f.name, help: f.help, labelKeys: [...BASE_LABEL_KEYS, ...(f.extraKeys ?? [])] }),
  );
}

/** The series of one container or pod; figures Porto did not give are left out, never reported as 0. */
export function metricsOf(labels: MetricLabels, input: MetricInput): Metric[] {
  const base = BASE_LABEL_KEYS.map((k) => labels[k]);
  const out: Metric[] = [];
  for (const f of FAMILIES) {
    for (const v of f.values(input)) {
      if (v.value === undefined) continue;
      out.push(
        create(MetricSchema, {
          name: f.name,
          // 0: sampled for this call, not a cached value (kubelet then stamps it itself).
          timestamp: 0n,
          metricType: f.type,
          labelValues: [...base, ...(v.extra ?? [])],
          value: create(UInt64ValueSchema, { value: v.value }),
        }),
      );
    }
  }
  return out;
}
