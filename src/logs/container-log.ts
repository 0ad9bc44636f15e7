/**
 * The pump of one container: from portod's stdout/stderr files to kubelet's
 * CRI log file, surviving shim crashes without losing or repeating a line.
 *
 * Positions. portod appends the container's output to two files and, while
 * the container runs, cuts each file's head once it outgrows stdout_limit,
 * adding the bytes cut to stdout_offset/stderr_offset (porto-stdio.ts). A
 * stream position `pos` is therefore absolute: the byte lives at
 * `pos - offset` in the file. The pump reads at that position and writes CRI
 * lines; `pos` advances only over bytes whose lines are written, so an
 * unfinished line is simply read again next time (nothing is held in memory
 * between reads) and is written when its newline comes, when it outgrows the
 * line limit (P lines), or when the container has ended (P lines).
 *
 * Reading against rotation. A cut moves every byte in the file, so a read is
 * trusted only if portod's offsets were the same before and after it (one
 * `get` each side, the "after" serving as the next "before") and the file did
 * not shrink meanwhile; otherwise it is read again. While both files are
 * smaller than half the limit and no cut has ever happened, no cut can have
 * happened (a cut leaves at least half the limit behind), so small and quiet
 * containers are read without asking portod at all.
 *
 * Crash consistency. The order is: write lines to the CRI log, fsync it, then
 * atomically replace the record (log-record.ts) holding both cursors and the
 * log's size. On start-up the log is cut back to the recorded size (anything
 * beyond was written after the last commit) and reading resumes at the
 * recorded cursors, so each line ends up in the file exactly once whatever
 * instant the shim died at. A new log file (ReopenContainerLog) is recorded
 * before anything is written to it. Commits are batched (every
 * COMMIT_DELAY_MS, or COMMIT_BYTES, and always before flush and reopen
 * return), which bounds what a crash makes us write twice to readers that
 * follow the file live, never what ends up in it.
 *
 * Terminals. A container started with a tty has no portod files: its
 * terminal's holder (streaming/tty-holder.ts) copies what the terminal shows
 * to a file of its own, cut the same way, and counts what it cut. Such a
 * record (`terminal`) reads that file as stdout, has no stderr, takes the
 * offset and limit from the holder (TerminalFacts) and counts as live until
 * the holder has copied the last byte, since that lags behind the process'
 * death; the rest is the same.
 *
 * Limits, documented in docs/logs.md: output portod cut before it was read
 * (the shim down or behind by more than about half of stdout_limit) is lost,
 * detected as `offset > pos`, counted and logged; a full disk drops lines
 * (counted, logged) instead of stopping the container or the shim.
 */
import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { formatCriLines, formatRfc3339Nano } from "./cri-log-format.js";
import type { LogStream } from "./cri-log-format.js";
import { MonotonicStamp } from "./log-clock.js";
import { LogFile, isDiskFull } from "./log-file.js";
import { STREAMS } from "./log-record.js";
import type { LogRecord, StreamCursor } from "./log-record.js";

/** What portod says about a container's output (one `get`). */
export interface PortoStdioFacts {
  /** Porto's state, or "gone" when the container no longer exists. */
  state: string;
  /** stdout_offset / stderr_offset; undefined where portod has none (stopped, gone). */
  stdoutOffset?: number;
  stderrOffset?: number;
  /** stdout_limit, when known. */
  stdoutLimit?: number;
}

/** What a terminal holder says about the output file it writes (a container started with a tty). */
export interface TerminalFacts {
  /** Bytes the holder cut from the file's head so far: what stdout_offset is for portod's files. */
  offset: number;
  /** Size past which it cuts the head, down to at least half of it: what stdout_limit is for portod's. */
  limit: number;
  /** The holder may still write: output can lag behind the process' death by what the holder had not copied yet. */
  writing: boolean;
}

/** States in which the container's process may still write. */
const LIVE_STATES = new Set(["starting", "running", "stopping", "paused", "meta", "respawning"]);

export function isLiveState(state: string): boolean {
  return LIVE_STATES.has(state);
}

/** Buffers for one pump run: reads of both streams and formatted output. */
export interface PumpBuffers {
  read: Record<LogStream, Buffer>;
  out: Buffer;
}

export interface LogCounters {
  /** CRI lines not written because the disk was full (or the write failed). */
  droppedLines: number;
  droppedBytes: number;
  /** Output portod cut from its files before the shim read it (and the blanks it left in its place). */
  lostBytes: number;
  /** Bytes and lines written to CRI logs. */
  writtenBytes: number;
  writtenLines: number;
}

/** What a ContainerLog needs from its manager. */
export interface ContainerLogContext {
  logger: Logger;
  facts(portoName: string): Promise<PortoStdioFacts>;
  /** For records with `terminal`: what the holder writing `stdoutPath` says. */
  terminalFacts?(stdoutPath: string): Promise<TerminalFacts>;
  /** Sets the container's stdout_limit (see LogTuning.burstLimitBytes). */
  setStdoutLimit(portoName: string, bytes: number): Promise<void>;
  saveRecord(record: LogRecord): Promise<void>;
  acquireBuffers(): Promise<PumpBuffers>;
  releaseBuffers(b: PumpBuffers): void;
  counters: LogCounters;
  tuning: LogTuning;
}

export interface LogTuning {
  /** Longest content of one CRI line; kubelet's and containerd's default is 16 KiB. */
  maxLineBytes: number;
  /** Commit at most this long after a write. */
  commitDelayMs: number;
  /** Commit at once when this much was written since the last commit. */
  commitBytes: number;
  /** How often files are checked for growth when no inotify event came. */
  pollMs: number;
  /** Least time between two pump runs of one container, so a stream of tiny writes costs few reads. */
  minIntervalMs: number;
  /** Most bytes one run moves before letting other containers' runs have the buffers. */
  runBudgetBytes: number;
  /**
   * When a container writes faster than the shim reads and the unread part
   * passes a quarter of its stdout_limit, the limit is raised to this for as
   * long as the shim lags (and put back once it has caught up for
   * lowerAfterMs), so portod does not cut what the shim is about to read.
   * 0 never raises. Default 1 GiB, portod's stdout_limit_max.
   */
  burstLimitBytes: number;
  /** How long the shim must have kept up before a raised stdout_limit goes back; default 5 s. */
  lowerAfterMs: number;
}

/** Thrown by reopen for a container whose process is not running (as containerd: "container is not running"). */
export class ContainerNotRunningError extends Error {
  constructor() {
    super("container is not running");
    this.name = "ContainerNotRunningError";
  }
}

interface StreamRead {
  stream: LogStream;
  bytes: Buffer;
  /** The read reached the end of the file as it was when reading began. */
  eof: boolean;
  /** The file got shorter during the read: a cut happened under it. */
  shrank: boolean;
  /** Size after the read. */
  size: number;
  /** The file is shorter than the cursor: positions and file disagree. */
  behind: boolean;
}

const EMPTY = Buffer.alloc(0);
const WARN_EVERY_MS = 30_000;
/** Reads in a row that a cut spoiled before a run gives up until the next one. */
const MAX_RETRIES = 20;
/** Unread output below this counts as having caught up. */
const LAG_SMALL_BYTES = 1024 * 1024;
/** portod looks for the end of the line it cut within 16 KiB (ROTATE_OFFSET_LIMIT): no more is blanked. */
const PORTO_BLANK_MAX = 16 * 1024;

export class ContainerLog {
  private readonly log: Logger;
  private readonly stamp: MonotonicStamp;
  private file: LogFile | undefined;
  private readonly porto: Partial<Record<LogStream, FileHandle>> = {};
  /** File sizes after the last run, to skip runs when nothing changed. */
  private readonly lastSizes: Record<LogStream, number> = { stdout: -1, stderr: -1 };
  private stdoutLimit: number | undefined;
  /** When the shim last had unread output to catch up with (for putting a raised limit back). */
  private lastLagAt = 0;
  private queue: Promise<void> = Promise.resolve();
  private watchers: FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private runTimer: NodeJS.Timeout | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private yielded = false;
  private lastRunEnd = 0;
  private dirty = false;
  private uncommittedBytes = 0;
  private stopped = false;
  private readonly warnedAt = new Map<string, { at: number; suppressed: number }>();

  private constructor(
    private readonly ctx: ContainerLogContext,
    /** The live state; copies of it are what gets saved. */
    private readonly record: LogRecord,
  ) {
    this.log = ctx.logger.child({ component: "logs", containerId: record.containerId });
    this.stamp = new MonotonicStamp(BigInt(record.lastTimestampNs));
  }

  get containerId(): string {
    return this.record.containerId;
  }

  get isFinal(): boolean {
    return this.record.final;
  }

  /**
   * Starts a container's log, or resumes it after a restart: cuts what the
   * last run wrote after its last commit, opens the log file and records it,
   * then follows portod's files.
   */
  static async open(ctx: ContainerLogContext, record: LogRecord): Promise<ContainerLog> {
    const c = new ContainerLog(ctx, record);
    if (record.final) return c;
    if (record.file) {
      const cut = await LogFile.recover(record.logPath, record.file);
      if (cut > 0) c.log.info({ bytes: cut }, "cut log lines written after the last commit; they are written again");
    }
    await c.openLogFile();
    c.dirty = true;
    await c.commit();
    c.follow();
    c.kick(true);
    return c;
  }

  /** Schedules a run: soon, but not sooner than minIntervalMs after the last. */
  kick(now = false): void {
    if (this.stopped || this.record.final) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.runTimer) return;
    const wait = now ? 0 : Math.max(0, this.lastRunEnd + this.ctx.tuning.minIntervalMs - Date.now());
    this.runTimer = setTimeout(() => {
      this.runTimer = undefined;
      void this.exclusive(() => this.run(false));
    }, wait);
  }

  /**
   * Writes everything portod has so far; if the container has ended, also its
   * unfinished last line, and marks the log complete. Commits before
   * returning. Never rejects: a failure is logged and the log stays as
   * complete as it could be made.
   */
  async flush(): Promise<void> {
    await this.exclusive(async () => {
      if (this.record.final || this.stopped) return;
      await this.run(true);
      await this.commit();
    });
  }

  /**
   * ReopenContainerLog: kubelet has renamed the file; later lines go to a new
   * file at the same path, which exists when this returns.
   */
  async reopen(): Promise<void> {
    await this.exclusive(async () => {
      if (this.record.final || this.stopped) throw new ContainerNotRunningError();
      const facts = await this.facts();
      if (!isLiveState(facts.state)) throw new ContainerNotRunningError();
      await this.commit();
      await this.file?.close();
      this.file = undefined;
      this.record.file = null;
      await this.openLogFile();
      this.dirty = true;
      await this.commit();
    });
    this.kick(true);
  }

  /** Stops following and saves where it stood (shim shutdown). */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      await this.commit();
      await this.stop();
    });
  }

  /** Stops following without saving (RemoveContainer: the record is deleted next). */
  async discard(): Promise<void> {
    await this.exclusive(() => this.stop());
  }

  // ---- internals

  /** Runs `fn` after everything queued before it; a failure does not block what follows. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Porto's facts; for a terminal's output, the offsets and limit are the
   * holder's, and the output is live for as long as either the container
   * runs or the holder may still write (it copies the last bytes after
   * portod has seen the process die).
   */
  private async facts(): Promise<PortoStdioFacts> {
    const porto = await this.ctx.facts(this.record.portoName);
    if (!this.record.terminal) return porto;
    if (!this.ctx.terminalFacts) throw new Error("terminal output without terminalFacts");
    const t = await this.ctx.terminalFacts(this.record.stdoutPath);
    const state = !isLiveState(porto.state) && t.writing ? "stopping" : porto.state;
    return { state, stdoutOffset: t.offset, stderrOffset: 0, stdoutLimit: t.limit };
  }

  private async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    clearInterval(this.pollTimer);
    clearTimeout(this.runTimer);
    clearTimeout(this.commitTimer);
    this.pollTimer = this.runTimer = this.commitTimer = undefined;
    for (const s of STREAMS) {
      await this.porto[s]?.close().catch(() => {});
      delete this.porto[s];
    }
    await this.file?.close();
    this.file = undefined;
  }

  /** inotify on portod's directory for prompt reads, plus a slow poll for whatever inotify misses. */
  private follow(): void {
    this.pollTimer = setInterval(() => {
      if (this.watchers.length === 0) this.watch();
      this.kick();
    }, this.ctx.tuning.pollMs);
    this.pollTimer.unref();
    this.watch();
  }

  private watch(): void {
    const names = new Map<string, Set<string>>();
    for (const path of [this.record.stdoutPath, this.record.stderrPath]) {
      if (path === "") continue; // no such stream (a terminal has no stderr)
      const dir = dirname(path);
      if (!names.has(dir)) names.set(dir, new Set());
      names.get(dir)!.add(path.slice(dir.length + 1));
    }
    for (const [dir, files] of names) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || files.has(String(name))) this.kick();
        });
        // The directory goes with the container (portod removes it at stop and
        // destroy); the poll and the open descriptors carry on without it.
        w.on("error", () => {
          w.close();
          this.watchers = this.watchers.filter((x) => x !== w);
        });
        this.watchers.push(w);
      } catch {
        // Not there yet (the container has not started): the poll retries.
      }
    }
  }

  private async openLogFile(): Promise<void> {
    try {
      this.file = await LogFile.open(this.record.logPath);
      this.record.file = { ...this.file.identity, size: this.file.size };
    } catch (err) {
      this.file = undefined;
      this.warn("open", { err: (err as Error).message, path: this.record.logPath }, "cannot open the container log file; its lines are dropped");
    }
  }

  private async run(force: boolean): Promise<void> {
    if (this.stopped || this.record.final) return;
    this.running = true;
    const buffers = await this.ctx.acquireBuffers();
    try {
      if (!this.file) {
        // An earlier open failed; a file opened now is recorded before lines go to it.
        await this.openLogFile();
        if (this.file) {
          this.dirty = true;
          await this.commit();
        }
      }
      await this.openStreams();
      await this.drain(buffers, force);
    } catch (err) {
      this.warn("pump", { err: (err as Error).message }, "reading the container's output failed; retrying");
    } finally {
      this.ctx.releaseBuffers(buffers);
      this.running = false;
      this.lastRunEnd = Date.now();
    }
    this.afterRun();
  }

  private afterRun(): void {
    if (this.stopped || this.record.final) return;
    if (this.uncommittedBytes >= this.ctx.tuning.commitBytes) {
      void this.exclusive(() => this.commit());
    } else if (this.dirty && !this.commitTimer) {
      this.commitTimer = setTimeout(() => {
        this.commitTimer = undefined;
        void this.exclusive(() => this.commit());
      }, this.ctx.tuning.commitDelayMs);
    }
    if (this.yielded) {
      this.yielded = false;
      this.again = false;
      this.kick(true);
    } else if (this.again) {
      this.again = false;
      this.kick();
    }
  }

  private async openStreams(): Promise<void> {
    for (const s of STREAMS) {
      if (this.porto[s]) continue;
      if ((s === "stdout" ? this.record.stdoutPath : this.record.stderrPath) === "") continue;
      try {
        this.porto[s] = await open(s === "stdout" ? this.record.stdoutPath : this.record.stderrPath, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
  }

  private async drain(buffers: PumpBuffers, force: boolean): Promise<void> {
    const sizes = await this.sizes();
    if (!force && sizes.stdout === this.lastSizes.stdout && sizes.stderr === this.lastSizes.stderr) {
      await this.maybeLowerLimit();
      return;
    }
    // A flush must get to the end; background runs share the buffers fairly.
    let budget = force ? Infinity : this.ctx.tuning.runBudgetBytes;

    if (!force && this.quickPathAllowed(sizes)) {
      // No cut has ever happened and none can have: positions need no check.
      for (;;) {
        const reads = await this.readBoth(buffers);
        // Anything unusual, or output piling up (the limit may need raising): take the checked path.
        if (reads.some((r) => r.behind || r.shrank || !this.stillQuick(r.size)) || this.shouldRaise(reads)) break;
        const moved = await this.emitBoth(reads, buffers, false);
        this.noteSizes(reads);
        budget -= moved;
        if (reads.every((r) => r.eof) || moved === 0) return;
        if (budget <= 0) return this.yieldRun();
      }
    }

    let facts = await this.facts();
    let retries = 0;
    for (;;) {
      this.applyFacts(facts);
      const live = isLiveState(facts.state);
      const reads = await this.readBoth(buffers);
      if (live) {
        const after = await this.facts();
        const cut = after.stdoutOffset !== facts.stdoutOffset || after.stderrOffset !== facts.stderrOffset;
        facts = after;
        if (cut || reads.some((r) => r.shrank)) {
          // portod cut the file under the read: read again at the new offsets.
          if (++retries > MAX_RETRIES) return this.yieldRun();
          continue;
        }
      }
      if (reads.some((r) => r.behind)) {
        // The file is shorter than the cursor says even with fresh offsets:
        // portod's count restarted after a cut we never saw (see applyFacts).
        this.resyncBehind(reads);
        if (++retries > MAX_RETRIES) return this.yieldRun();
        continue;
      }
      retries = 0;
      if (live) await this.maybeRaiseLimit(reads);
      const moved = await this.emitBoth(reads, buffers, !live);
      this.noteSizes(reads);
      if (!live && reads.every((r) => r.eof)) {
        if (this.hasRun(facts)) await this.finish(facts);
        return;
      }
      budget -= moved;
      if (reads.every((r) => r.eof) || moved === 0) return;
      if (budget <= 0) return this.yieldRun();
    }
  }

  /**
   * Whether a container that is not live has ended rather than not started
   * yet (`stopped` is both): dead, or it had output files, or it wrote.
   */
  private hasRun(facts: PortoStdioFacts): boolean {
    if (facts.state === "dead") return true;
    return Boolean(this.porto.stdout || this.porto.stderr) || STREAMS.some((s) => this.record[s].pos > 0);
  }

  /** Lets other containers' runs have the buffers, then carries on at once. */
  private yieldRun(): void {
    this.yielded = true;
  }

  /** Raises stdout_limit while unread output piles up towards what portod would cut. */
  private async maybeRaiseLimit(reads: StreamRead[]): Promise<void> {
    const burst = this.ctx.tuning.burstLimitBytes;
    const limit = this.stdoutLimit;
    if (limit === undefined) return;
    const lag = this.unread(reads);
    if (lag > LAG_SMALL_BYTES) this.lastLagAt = Date.now();
    if (!this.shouldRaise(reads)) return;
    try {
      await this.ctx.setStdoutLimit(this.record.portoName, burst);
    } catch (err) {
      this.warn("raise", { err: (err as Error).message }, "cannot raise stdout_limit to catch up");
      return;
    }
    this.log.info({ unread: lag, from: limit, to: burst }, "output piles up faster than it is read: stdout_limit raised");
    this.record.raisedFrom = limit;
    this.stdoutLimit = burst;
    this.dirty = true;
  }

  /** Output in portod's files not yet read, the larger of the two streams. */
  private unread(reads: StreamRead[]): number {
    return Math.max(...reads.map((r) => r.size - (this.record[r.stream].pos - this.record[r.stream].portoOffset)));
  }

  /** Unread output passed a quarter of the limit and the limit can still be raised. */
  private shouldRaise(reads: StreamRead[]): boolean {
    const burst = this.ctx.tuning.burstLimitBytes;
    const limit = this.stdoutLimit;
    // A terminal holder's limit is its own: there is no Porto property to raise.
    if (this.record.terminal) return false;
    if (!burst || limit === undefined || this.record.raisedFrom != null || limit >= burst) return false;
    return this.unread(reads) > limit / 4;
  }

  /** Puts a raised stdout_limit back once the shim has kept up for a while. */
  private async maybeLowerLimit(): Promise<void> {
    const from = this.record.raisedFrom;
    if (from == null || Date.now() - this.lastLagAt < this.ctx.tuning.lowerAfterMs) return;
    const unread = STREAMS.some((s) => this.lastSizes[s] - (this.record[s].pos - this.record[s].portoOffset) > LAG_SMALL_BYTES);
    if (unread) return;
    try {
      await this.ctx.setStdoutLimit(this.record.portoName, from);
      this.log.info({ to: from }, "caught up: stdout_limit put back");
    } catch (err) {
      // A container that has died or gone no longer rotates: nothing to put back.
      this.warn("lower", { err: (err as Error).message }, "cannot put stdout_limit back");
    }
    this.record.raisedFrom = null;
    this.stdoutLimit = from;
    this.dirty = true;
  }

  private quickPathAllowed(sizes: Record<LogStream, number>): boolean {
    if (this.stdoutLimit === undefined) return false;
    return STREAMS.every((s) => this.record[s].portoOffset === 0) && STREAMS.every((s) => this.stillQuick(sizes[s]));
  }

  /**
   * A cut leaves at least half the limit in the file, so a smaller file has
   * never been cut (the smaller limit counts while a raised one may go back).
   */
  private stillQuick(size: number): boolean {
    const limit = this.record.raisedFrom ?? this.stdoutLimit;
    return limit !== undefined && size < Math.floor(limit / 2);
  }

  private async sizes(): Promise<Record<LogStream, number>> {
    const out = { stdout: 0, stderr: 0 };
    for (const s of STREAMS) {
      const fh = this.porto[s];
      if (fh) out[s] = (await fh.stat()).size;
    }
    return out;
  }

  private noteSizes(reads: StreamRead[]): void {
    for (const r of reads) this.lastSizes[r.stream] = r.size;
  }

  /** Moves cursors to what portod says now: detects lost output and restarted counts. */
  private applyFacts(facts: PortoStdioFacts): void {
    if (facts.stdoutLimit !== undefined) this.stdoutLimit = facts.stdoutLimit;
    for (const s of STREAMS) {
      const offset = s === "stdout" ? facts.stdoutOffset : facts.stderrOffset;
      if (offset === undefined) continue; // stopped or gone: the last offset seen still holds
      const c = this.record[s];
      if (offset < c.portoOffset) {
        // portod keeps offsets in memory only: after `portod reload` (or a
        // restart of the container) they start again at 0. Keep the file
        // position; readBoth notices if a cut happened in between.
        this.log.warn({ stream: s, was: c.portoOffset, now: offset }, "portod's output offset went back; keeping the file position");
        c.pos = offset + (c.pos - c.portoOffset);
        c.portoOffset = offset;
        this.dirty = true;
      }
      if (offset > c.pos) this.lose(s, c, offset - c.pos, "portod rotated container output away before the shim read it");
      if (c.portoOffset !== offset) this.dirty = true;
      c.portoOffset = offset;
    }
  }

  private resyncBehind(reads: StreamRead[]): void {
    for (const r of reads) {
      if (!r.behind) continue;
      const c = this.record[r.stream];
      // How much was cut is unknowable; restart at the head of what is left.
      this.log.warn({ stream: r.stream }, "portod's file is shorter than the shim's position; resuming at its head");
      c.pos = c.portoOffset;
      c.skipFragment = true;
      this.dirty = true;
    }
  }

  private lose(stream: LogStream, c: StreamCursor, bytes: number, msg: string): void {
    this.ctx.counters.lostBytes += bytes;
    this.warn(`lost-${stream}`, { stream, bytes, at: c.pos }, msg);
    c.pos += bytes;
    c.skipFragment = true;
    this.dirty = true;
  }

  private async readBoth(buffers: PumpBuffers): Promise<StreamRead[]> {
    return Promise.all(STREAMS.map((s) => this.readStream(s, buffers.read[s])));
  }

  private async readStream(stream: LogStream, buf: Buffer): Promise<StreamRead> {
    const fh = this.porto[stream];
    if (!fh) return { stream, bytes: EMPTY, eof: true, shrank: false, size: 0, behind: false };
    const c = this.record[stream];
    const before = (await fh.stat()).size;
    const at = c.pos - c.portoOffset;
    if (at > before) return { stream, bytes: EMPTY, eof: true, shrank: false, size: before, behind: true };
    const want = Math.min(before - at, buf.length);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, at + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const after = (await fh.stat()).size;
    return { stream, bytes: buf.subarray(0, got), eof: at + got >= before, shrank: after < before, size: after, behind: false };
  }

  /** Formats and writes what was read; returns how many input bytes the cursors moved over. */
  private async emitBoth(reads: StreamRead[], buffers: PumpBuffers, ended: boolean): Promise<number> {
    let moved = 0;
    for (const r of reads) moved += await this.emit(r.stream, r.bytes, ended && r.eof, buffers.out);
    return moved;
  }

  private async emit(stream: LogStream, bytes: Buffer, final: boolean, out: Buffer): Promise<number> {
    const c = this.record[stream];
    let input = bytes;
    let moved = 0;
    if (c.skipFragment && input.length > 0) {
      let blanks = 0;
      while (blanks < input.length && blanks < PORTO_BLANK_MAX && input[blanks] === 0x20) blanks++;
      if (blanks < input.length || blanks === PORTO_BLANK_MAX || final) {
        this.ctx.counters.lostBytes += blanks;
        c.pos += blanks;
        moved += blanks;
        input = input.subarray(blanks);
        c.skipFragment = false;
        this.dirty = true;
      } else {
        return 0; // only blanks so far: wait for what follows them
      }
    }
    if (input.length === 0) return moved;
    const timestamp = formatRfc3339Nano(this.stamp.next());
    const options = { stream, timestamp, maxLineBytes: this.ctx.tuning.maxLineBytes, final };
    while (input.length > 0) {
      const r = formatCriLines(input, out, options);
      if (r.consumed === 0) break;
      await this.write(out.subarray(0, r.written), r.lines);
      c.pos += r.consumed;
      moved += r.consumed;
      input = input.subarray(r.consumed);
      this.dirty = true;
    }
    return moved;
  }

  private async write(data: Buffer, lines: number): Promise<void> {
    const counters = this.ctx.counters;
    if (!this.file) {
      counters.droppedLines += lines;
      counters.droppedBytes += data.length;
      return;
    }
    try {
      await this.file.append(data);
      counters.writtenBytes += data.length;
      counters.writtenLines += lines;
      this.uncommittedBytes += data.length;
    } catch (err) {
      counters.droppedLines += lines;
      counters.droppedBytes += data.length;
      const full = isDiskFull(err);
      this.warn(
        full ? "disk-full" : "write",
        { err: (err as Error).message, lines, bytes: data.length, droppedLines: counters.droppedLines },
        full ? "disk full: container log lines dropped" : "cannot write the container log: lines dropped",
      );
    }
  }

  /** fsync the log, then save the record naming its size and the cursors. */
  private async commit(): Promise<void> {
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (!this.dirty) return;
    if (this.file) {
      try {
        await this.file.sync();
      } catch (err) {
        // EINVAL: not a file that can be synced (a device someone linked there); nothing to wait for.
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") {
          this.warn("sync", { err: (err as Error).message }, "cannot fsync the container log");
          return; // keep the old record: it still describes what is surely on disk
        }
      }
      this.record.file = { ...this.file.identity, size: this.file.size };
    }
    this.record.lastTimestampNs = String(this.stamp.last);
    const snapshot: LogRecord = structuredClone(this.record);
    try {
      await this.ctx.saveRecord(snapshot);
      this.dirty = false;
      this.uncommittedBytes = 0;
    } catch (err) {
      this.warn("save", { err: (err as Error).message }, "cannot save the log position; retrying at the next commit");
    }
  }

  private async finish(facts: PortoStdioFacts): Promise<void> {
    this.record.final = true;
    this.dirty = true;
    await this.commit();
    this.log.debug({ state: facts.state }, "container output complete");
    await this.stop();
  }

  /** Logs the first occurrence of a problem, then at most one line per WARN_EVERY_MS with the count in between. */
  private warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const seen = this.warnedAt.get(key);
    if (seen && now - seen.at < WARN_EVERY_MS) {
      seen.suppressed++;
      return;
    }
    this.warnedAt.set(key, { at: now, suppressed: 0 });
    this.log.warn({ ...fields, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, msg);
  }
}
