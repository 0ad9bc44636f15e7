import { test } from "node:test";
import assert from "node:assert/strict";
import { MetricType } from "../../gen/runtime/v1/api_pb.js";
import { BASE_LABEL_KEYS, metricDescriptors, metricsOf } from "../../src/mapping/metrics.js";
import { parseMemoryStat } from "../../src/mapping/stats.js";

const labels = { container: "app", id: "c1", image: "busybox", name: "k8s-p/c1", namespace: "default", pod: "web" };

test("descriptors use cAdvisor's names and labels, unique, fixed", () => {
  const d = metricDescriptors();
  const names = d.map((x) => x.name);
  assert.equal(new Set(names).size, names.length, "no name twice");
  for (const name of [
    "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total",
    "container_cpu_system_seconds_total",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_memory_rss",
    "container_memory_cache",
    "container_memory_swap",
    "container_oom_events_total",
    "container_processes",
    "container_spec_memory_limit_bytes",
    "container_spec_cpu_quota",
    "container_spec_cpu_period",
    "container_spec_cpu_shares",
    "container_fs_usage_bytes",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_start_time_seconds",
  ]) {
    assert.ok(names.includes(name), name);
  }
  for (const x of d) {
    assert.deepEqual(x.labelKeys.slice(0, BASE_LABEL_KEYS.length), [...BASE_LABEL_KEYS], x.name);
    assert.ok(x.help.length > 0, x.name);
  }
  const keys = (n: string) => d.find((x) => x.name === n)!.labelKeys.slice(BASE_LABEL_KEYS.length);
  assert.deepEqual(keys("container_cpu_usage_seconds_total"), ["cpu"]);
  assert.deepEqual(keys("container_network_receive_bytes_total"), ["interface"]);
  assert.deepEqual(keys("container_memory_failures_total"), ["failure_type", "scope"]);
  assert.deepEqual(keys("container_fs_usage_bytes"), ["device"]);
  assert.deepEqual(metricDescriptors(), d, "the same every time");
});

test("every series names a descriptor and has one value per label key", () => {
  const descriptors = new Map(metricDescriptors().map((d) => [d.name, d]));
  const metrics = metricsOf(labels, {
    usage: {
      state: "running",
      cpuUsageNs: 7_900_000_000n,
      cpuSystemNs: 1_200_000_000n,
      memoryUsage: 1000n,
      memoryStat: parseMemoryStat("total_inactive_file 400\ntotal_rss 300\npgfault 5\ntotal_pgfault 6\npgmajfault 1\ntotal_pgmajfault 2\n"),
      memoryLimit: 4096n,
      processCount: 2n,
      threadCount: 3n,
      oomKills: 1n,
      cpuLimitCores: 0.5,
      cpuGuaranteeCores: 0.25,
      cpuPeriodNs: 100_000_000n,
    },
    layer: { bytes: 8192n, inodes: 3n, atNs: 1n, mountpoint: "/place/porto_volumes" },
    network: [{ name: "eth0", rxBytes: 10n, rxPackets: 1n, rxErrors: 0n, rxDropped: 0n, txBytes: 20n, txPackets: 2n, txErrors: 0n, txDropped: 0n }],
    startedAtNs: 1_700_000_000_500_000_000n,
  });
  const by = (name: string, ...extra: string[]) =>
    metrics.find((m) => m.name === name && m.labelValues.slice(6).join() === extra.join());
  for (const m of metrics) {
    const d = descriptors.get(m.name);
    assert.ok(d, m.name);
    assert.equal(m.labelValues.length, d.labelKeys.length, m.name);
    assert.deepEqual(m.labelValues.slice(0, 6), ["app", "c1", "busybox", "k8s-p/c1", "default", "web"]);
  }
  assert.equal(by("container_cpu_usage_seconds_total", "total")?.value?.value, 7n, "whole seconds: CRI values are integers");
  assert.equal(by("container_cpu_usage_seconds_total", "total")?.metricType, MetricType.COUNTER);
  assert.equal(by("container_cpu_user_seconds_total")?.value?.value, 6n);
  assert.equal(by("container_cpu_system_seconds_total")?.value?.value, 1n);
  assert.equal(by("container_memory_working_set_bytes")?.value?.value, 600n);
  assert.equal(by("container_memory_working_set_bytes")?.metricType, MetricType.GAUGE);
  assert.equal(by("container_memory_rss")?.value?.value, 300n);
  assert.equal(by("container_memory_failures_total", "pgfault", "container")?.value?.value, 5n);
  assert.equal(by("container_memory_failures_total", "pgmajfault", "hierarchy")?.value?.value, 2n);
  assert.equal(by("container_oom_events_total")?.value?.value, 1n);
  assert.equal(by("container_spec_memory_limit_bytes")?.value?.value, 4096n);
  assert.equal(by("container_spec_cpu_quota")?.value?.value, 50_000n);
  assert.equal(by("container_spec_cpu_period")?.value?.value, 100_000n);
  assert.equal(by("container_spec_cpu_shares")?.value?.value, 256n);
  assert.equal(by("container_fs_usage_bytes", "/place/porto_volumes")?.value?.value, 8192n);
  assert.equal(by("container_network_receive_bytes_total", "eth0")?.value?.value, 10n);
  assert.equal(by("container_network_transmit_bytes_total", "eth0")?.value?.value, 20n);
  assert.equal(by("container_start_time_seconds")?.value?.value, 1_700_000_000n);
  assert.ok(metrics.every((m) => m.timestamp === 0n), "sampled for the call");
});

test("figures Porto did not give are left out, not reported as zero", () => {
  const metrics = metricsOf(labels, { usage: { state: "running", cpuUsageNs: 1n } });
  assert.deepEqual(
    metrics.map((m) => m.name),
    ["container_cpu_usage_seconds_total"],
  );
});
