/**
 * Resource usage figures of the double's containers. The double has no
 * cgroups, so usage reads as zero unless a test sets figures with
 * {@link setUsage}; the properties that report usage (cpu_usage,
 * memory_usage, memory.stat, ...) read them from here, in portod's formats.
 *
 * ```ts
 * setUsage(double.state.containers.get("k8s-<pod>/<ctr>")!, { cpuUsageNs: 5_000_000_000n, anonBytes: 20n << 20n });
 * ```
 *
 * What it models of the kernel: memory_usage = anon + cache (+ shmem), the
 * cgroup v1 memory.stat keys portod passes through (own and `total_`
 * hierarchical ones, which for the double are the same figures), and a
 * memory limit below the anonymous memory is refused as portod refuses it
 * (Busy: "Memory limit is too low for current memory usage"), since the
 * kernel can reclaim cache but not anonymous memory.
 */
import type { Container } from "./container.js";

export interface Usage {
  /** cpu_usage, nanoseconds. */
  cpuUsageNs: bigint;
  /** cpu_usage_system, nanoseconds. */
  cpuSystemNs: bigint;
  /** Anonymous memory (memory.stat rss). */
  anonBytes: bigint;
  /** Page cache (memory.stat cache); `inactiveFileBytes` of it is inactive. */
  cacheBytes: bigint;
  inactiveFileBytes: bigint;
  mappedFileBytes: bigint;
  shmemBytes: bigint;
  /** memory.stat pgfault (all faults) and pgmajfault. */
  pgfault: bigint;
  pgmajfault: bigint;
  /** Overrides for process_count and thread_count (default 1 while the process runs). */
  processCount?: bigint;
  threadCount?: bigint;
}

const ZERO: Usage = {
  cpuUsageNs: 0n,
  cpuSystemNs: 0n,
  anonBytes: 0n,
  cacheBytes: 0n,
  inactiveFileBytes: 0n,
  mappedFileBytes: 0n,
  shmemBytes: 0n,
  pgfault: 0n,
  pgmajfault: 0n,
};

const USAGE = new WeakMap<Container, Usage>();

/** Sets some of a container's figures; the others keep their values. */
export function setUsage(ct: Container, figures: Partial<Usage>): void {
  USAGE.set(ct, { ...usageOf(ct), ...figures });
}

export function usageOf(ct: Container): Usage {
  return USAGE.get(ct) ?? ZERO;
}

/** memory_usage: what the cgroup is charged (memory.usage_in_bytes). */
export function memoryUsage(ct: Container): bigint {
  const u = usageOf(ct);
  return u.anonBytes + u.cacheBytes + u.shmemBytes;
}

/** anon_usage as portod reports it: anonymous memory plus shmem. */
export function anonUsage(ct: Container): bigint {
  const u = usageOf(ct);
  return u.anonBytes + u.shmemBytes;
}

/** minor_faults: portod subtracts the major ones from pgfault. */
export function minorFaults(ct: Container): bigint {
  const u = usageOf(ct);
  return u.pgfault - u.pgmajfault;
}

/** The cgroup v1 memory.stat file, own keys then `total_` ones, as portod 5.3.59 returns it. */
export function memoryStatText(ct: Container): string {
  const u = usageOf(ct);
  const own: [string, bigint][] = [
    ["cache", u.cacheBytes],
    ["rss", u.anonBytes],
    ["rss_huge", 0n],
    ["shmem", u.shmemBytes],
    ["mapped_file", u.mappedFileBytes],
    ["dirty", 0n],
    ["writeback", 0n],
    ["swap", 0n],
    ["pgpgin", 0n],
    ["pgpgout", 0n],
    ["pgfault", u.pgfault],
    ["pgmajfault", u.pgmajfault],
    ["inactive_anon", u.anonBytes],
    ["active_anon", 0n],
    ["inactive_file", u.inactiveFileBytes],
    ["active_file", u.cacheBytes - u.inactiveFileBytes],
    ["unevictable", 0n],
  ];
  const limits: [string, bigint][] = [
    ["hierarchical_memory_limit", ct.memoryLimit || 9223372036854771712n],
    ["hierarchical_memsw_limit", 9223372036854771712n],
  ];
  return [...own, ...limits, ...own.map(([k, v]) => [`total_${k}`, v] as [string, bigint])]
    .map(([k, v]) => `${k} ${v}`)
    .join("\n")
    .concat("\n");
}
