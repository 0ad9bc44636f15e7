/**
 * CPU use as a rate (CRI's usage_nano_cores): cumulative cpu_usage samples
 * kept per container or pod, and each new sample compared with an earlier
 * one at least `minWindowMs` old. Porto keeps no history, so the shim does.
 *
 * Samples are only stored that far apart, so a burst of calls keeps a few
 * samples, not thousands, and a call that comes right after another one is
 * measured against the sample before it: two pollers (kubelet every ten
 * seconds, a crictl now and then) never shrink each other's window below the
 * minimum. The first call for an object has nothing to compare with and
 * leaves the rate unset, as containerd does. Series not seen for `forgetAfterMs` are
 * dropped, so removed containers do not pile up.
 */
import { nanoCores, rateReference } from "../mapping/stats.js";
import type { CpuSample } from "../mapping/stats.js";

export interface CpuRateOptions {
  /** Shortest window a rate is computed over; default 1 s. */
  minWindowMs?: number;
  /** Samples kept per object (the oldest goes first); default 4. */
  maxSamples?: number;
  /** A series not observed for this long is forgotten; default 10 minutes. */
  forgetAfterMs?: number;
}

interface Series {
  /** Oldest first, at least the minimum window apart. */
  samples: CpuSample[];
  seenAtNs: bigint;
}

export class CpuRateTracker {
  private readonly series = new Map<string, Series>();
  private readonly minWindowNs: bigint;
  private readonly maxSamples: number;
  private readonly forgetAfterNs: bigint;
  private lastSweepNs = 0n;

  constructor(options: CpuRateOptions = {}) {
    this.minWindowNs = BigInt(options.minWindowMs ?? 1000) * 1_000_000n;
    this.maxSamples = Math.max(2, options.maxSamples ?? 4);
    this.forgetAfterNs = BigInt(options.forgetAfterMs ?? 600_000) * 1_000_000n;
  }

  /** Records `sample` for `key`; returns the rate in nano-cores, or undefined when there is none yet. */
  observe(key: string, sample: CpuSample): bigint | undefined {
    this.sweep(sample.atNs);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { samples: [], seenAtNs: sample.atNs }));
    s.seenAtNs = sample.atNs;
    const last = s.samples.at(-1);
    if (last && sample.usageNs < last.usageNs) {
      // The counter went back: a new cgroup under the same name (restart). Start over.
      s.samples = [];
    }
    const ref = rateReference(s.samples, sample.atNs, this.minWindowNs);
    const rate = ref ? nanoCores(ref, sample) : undefined;
    const newest = s.samples.at(-1);
    if (!newest || sample.atNs - newest.atNs >= this.minWindowNs) {
      s.samples.push(sample);
      if (s.samples.length > this.maxSamples) s.samples.shift();
    }
    return rate;
  }

  forget(key: string): void {
    this.series.delete(key);
  }

  /** Objects with a series (for tests and diagnostics). */
  get size(): number {
    return this.series.size;
  }

  private sweep(nowNs: bigint): void {
    if (nowNs - this.lastSweepNs < this.forgetAfterNs / 10n) return;
    this.lastSweepNs = nowNs;
    for (const [key, s] of this.series) if (nowNs - s.seenAtNs > this.forgetAfterNs) this.series.delete(key);
  }
}
