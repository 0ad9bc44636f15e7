/**
 * Disk used by containers' writable layers, for ContainerStats.writable_layer.
 *
 * A container's root is an overlay volume portod builds from the image; what
 * the container wrote lives in the volume's upper directory,
 * `<place>/porto_volumes/<id>/overlay/upper` (portod's internal storage for
 * a volume without its own `storage`: TVolume::GetInternal + BuildOverlay).
 * portod reports space_used/inode_used from statfs, which without a project
 * quota (the loop backend here, and any host without quota support) is the
 * whole filesystem's usage: 26 GB for an empty container on this machine. So
 * the figures come from portod only when the volume has a space_limit (a
 * quota counts exactly the volume), and otherwise from walking the upper
 * directory like `du -x` (images/disk-usage.ts).
 *
 * kubelet polls every ten seconds or so for every container; walks are cached
 * per directory, a cached figure is served at once and refreshed in the
 * background once older than `ttlMs`, and only a few walks run at a time.
 */
import { measureDir } from "../images/disk-usage.js";
import type { DiskUsage } from "../images/disk-usage.js";

export interface LayerUsageOptions {
  /** Age after which a figure is refreshed (it is still served meanwhile); default 10 s. */
  ttlMs?: number;
  /** Walks running at once; default 4. */
  concurrency?: number;
  /** Entries not asked for this long are dropped; default 10 minutes. */
  forgetAfterMs?: number;
  /** How a directory is measured (tests replace it). */
  measure?: (dir: string) => Promise<DiskUsage>;
}

interface Entry {
  usage?: DiskUsage;
  measuredAt: number;
  askedAt: number;
  running?: Promise<DiskUsage>;
}

export class LayerUsage {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly forgetAfterMs: number;
  private readonly measure: (dir: string) => Promise<DiskUsage>;
  private readonly concurrency: number;
  private active = 0;
  private lastSweep = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: LayerUsageOptions = {}) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 600_000;
    this.measure = options.measure ?? measureDir;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
  }

  /** The usage of `dir`: a cached figure when there is one, measured now otherwise. */
  async get(dir: string): Promise<DiskUsage> {
    const now = Date.now();
    this.sweep(now);
    let e = this.entries.get(dir);
    if (!e) this.entries.set(dir, (e = { measuredAt: 0, askedAt: now }));
    e.askedAt = now;
    if (e.usage && now - e.measuredAt < this.ttlMs) return e.usage;
    const refresh = this.refresh(dir, e);
    if (e.usage) {
      refresh.catch(() => undefined); // the stale figure is served; a failed refresh is tried again next time
      return e.usage;
    }
    return refresh;
  }

  private refresh(dir: string, e: Entry): Promise<DiskUsage> {
    e.running ??= this.limited(() => this.measure(dir))
      .then((usage) => {
        e.usage = usage;
        e.measuredAt = Date.now();
        return usage;
      })
      .finally(() => {
        e.running = undefined;
      });
    return e.running;
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= this.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.forgetAfterMs / 10) return;
    this.lastSweep = now;
    for (const [dir, e] of this.entries) if (!e.running && now - e.askedAt > this.forgetAfterMs) this.entries.delete(dir);
  }
}
