/**
 * The clock behind CRI log timestamps: the wall-clock time at which the shim
 * read the bytes from Porto's file (Porto records no time per write; an
 * application's own output is the only better source, and it is not ours to
 * parse). Readers filter with it (`--since`) and sort by it, so it follows the
 * wall clock, with sub-millisecond digits from the monotonic clock so lines
 * read within one millisecond still tell their order.
 *
 * Date.now() alone has millisecond resolution; performance.now() alone drifts
 * from the wall clock when NTP steps it. So the clock anchors the monotonic
 * clock to the wall clock and re-anchors whenever they disagree by more than
 * RESYNC_NS (a step of the system clock).
 */

const RESYNC_NS = 50_000_000n; // 50 ms

export class WallClock {
  private anchorWallNs = 0n;
  private anchorMonoNs = 0n;

  constructor(
    private readonly wallMs: () => number = Date.now,
    private readonly monoNs: () => bigint = process.hrtime.bigint,
  ) {
    this.resync();
  }

  /** Nanoseconds since the epoch. */
  nowNs(): bigint {
    const t = this.anchorWallNs + (this.monoNs() - this.anchorMonoNs);
    const wall = BigInt(this.wallMs()) * 1_000_000n;
    const skew = t - wall;
    if (skew > RESYNC_NS || skew < -RESYNC_NS - 1_000_000n) return this.resync();
    return t;
  }

  private resync(): bigint {
    this.anchorMonoNs = this.monoNs();
    this.anchorWallNs = BigInt(this.wallMs()) * 1_000_000n;
    return this.anchorWallNs;
  }
}

/** One shared clock: anchoring is per process, monotonicity per log file (MonotonicStamp). */
export const wallClock = new WallClock();

/**
 * Timestamps of one log file: never earlier than the previous line's, even if
 * the wall clock steps back (readers assume file order is time order, and
 * `--since` would otherwise skip lines written after a step).
 */
export class MonotonicStamp {
  constructor(
    private lastNs: bigint = 0n,
    private readonly clock: { nowNs(): bigint } = wallClock,
  ) {}

  next(): bigint {
    const now = this.clock.nowNs();
    if (now > this.lastNs) this.lastNs = now;
    return this.lastNs;
  }

  get last(): bigint {
    return this.lastNs;
  }
}
