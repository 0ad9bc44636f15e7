/**
 * Every container's CRI log, for the lifecycle to drive:
 *
 *   StartContainer     after Porto started the container:  await logs.start({...})
 *   a container died   before reporting EXITED anywhere:   await logs.flush(id)
 *   ReopenContainerLog                                      await logs.reopen(id)
 *   RemoveContainer                                         await logs.remove(id)
 *   shim start-up      with every container that exists:    await logs.recover([...])
 *   shim shutdown                                           await logs.close()
 *
 * How output gets from the container to the file, and what survives what,
 * is in container-log.ts and docs/logs.md.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { EError } from "../../gen/rpc_pb.js";
import { isPortoError } from "../porto/errors.js";
import type { PortoClient } from "../porto/client.js";
import { RecordStore } from "../store/record-store.js";
import { DEFAULT_MAX_LINE_BYTES, maxCriLineBytes } from "./cri-log-format.js";
import { ContainerLog, ContainerNotRunningError } from "./container-log.js";
import type { ContainerLogContext, LogCounters, LogTuning, PortoStdioFacts, PumpBuffers, TerminalFacts } from "./container-log.js";
import { newCursor, parseLogRecord } from "./log-record.js";
import type { ContainerLogSpec, LogRecord } from "./log-record.js";
import { PORTO_WORK_DIR, portoStdioPaths } from "./porto-stdio.js";

/** The part of the Porto client the logs use. */
export type LogsPorto = Pick<PortoClient, "get" | "setProperty">;

export interface ContainerLogManagerOptions {
  /** Portoshim.StateDir; records go to <stateDir>/logs. */
  stateDir: string;
  porto: LogsPorto;
  logger: Logger;
  /** Where portod keeps containers' work directories (PORTO_WORK_DIR; the double's differs). */
  portoWorkDir?: string;
  /**
   * For containers started with a terminal (ContainerLogSpec.terminal): what
   * the holder writing their output file says (TtyHolders.outputFacts).
   * Without it such logs cannot be followed.
   */
  terminalFacts?: (outputPath: string) => Promise<TerminalFacts>;
  /** Fine-tuning, mostly for tests and the benchmark. */
  tuning?: Partial<LogTuning> & {
    /** Bytes read from a stream per step; default 1 MiB. */
    readChunkBytes?: number;
    /** Containers pumping at once (each holds about 3 read chunks of memory); default 4. */
    concurrentRuns?: number;
  };
}

/** A container the lifecycle knows at start-up: `started` false for one created but never started. */
export type LiveContainer = ContainerLogSpec & { started?: boolean };

const DEFAULT_TUNING: LogTuning = {
  maxLineBytes: DEFAULT_MAX_LINE_BYTES,
  commitDelayMs: 200,
  commitBytes: 32 * 1024 * 1024,
  pollMs: 1000,
  minIntervalMs: 25,
  runBudgetBytes: 64 * 1024 * 1024,
  burstLimitBytes: 1024 * 1024 * 1024,
  lowerAfterMs: 5_000,
};

export class ContainerLogManager {
  private readonly logs = new Map<string, ContainerLog>();
  /** Containers being started, so concurrent calls for one id wait for the same start. */
  private readonly starting = new Map<string, Promise<ContainerLog | undefined>>();
  private readonly store: RecordStore<LogRecord>;
  private loaded: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly workDir: string;
  private readonly ctx: ContainerLogContext;
  private readonly pool: BufferPool;
  private closed = false;
  readonly counters: LogCounters = { droppedLines: 0, droppedBytes: 0, lostBytes: 0, writtenBytes: 0, writtenLines: 0 };

  constructor(private readonly options: ContainerLogManagerOptions) {
    this.log = options.logger.child({ component: "logs" });
    this.workDir = options.portoWorkDir ?? PORTO_WORK_DIR;
    const tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.store = new RecordStore<LogRecord>({
      dir: join(options.stateDir, "logs"),
      onCorrupt: (file, err) => this.log.warn({ file, err: err.message }, "unreadable log record set aside"),
    });
    const chunk = options.tuning?.readChunkBytes ?? 1024 * 1024;
    const out = chunk + maxCriLineBytes({ stream: "stdout", timestamp: "0000-00-00T00:00:00.000000000Z", maxLineBytes: tuning.maxLineBytes });
    this.pool = new BufferPool(options.tuning?.concurrentRuns ?? 4, chunk, out);
    this.ctx = {
      logger: options.logger,
      facts: (name) => portoFacts(options.porto, name),
      terminalFacts: options.terminalFacts,
      setStdoutLimit: (name, bytes) => options.porto.setProperty(name, "stdout_limit", String(bytes)),
      saveRecord: (r) => this.store.put(r.containerId, r),
      acquireBuffers: () => this.pool.acquire(),
      releaseBuffers: (b) => this.pool.release(b),
      counters: this.counters,
      tuning,
    };
  }

  /**
   * StartContainer: creates the CRI log file (kubelet links to it at once)
   * and follows the container's output into it. Call after Porto started
   * the container, before answering. Idempotent. A container without a log
   * path (no log_directory or log_path) is not logged, as with containerd.
   */
  async start(c: ContainerLogSpec): Promise<void> {
    await this.load();
    await this.attach(c, false);
  }

  /**
   * Makes the log complete before the lifecycle reports the container
   * EXITED: waits until everything portod has of its output is in the file,
   * including an unfinished last line (written as a P line, as containerd
   * does at EOF). Cheap once done (ContainerStatus may call it every time).
   * For a running container it writes what is there so far. Never rejects.
   */
  async flush(containerId: string): Promise<void> {
    const c = await this.find(containerId);
    await c?.flush();
  }

  /**
   * ReopenContainerLog: after kubelet renamed the log file, later output goes
   * to a new file at the original path, which exists when this resolves.
   * Rejects with ContainerNotRunningError when the container is not running
   * (created, exited) or has no log.
   */
  async reopen(containerId: string): Promise<void> {
    const c = await this.find(containerId);
    if (!c) throw new ContainerNotRunningError();
    await c.reopen();
  }

  /**
   * RemoveContainer: stops following and forgets the container. The CRI log
   * file stays (it is kubelet's to delete). Idempotent.
   */
  async remove(containerId: string): Promise<void> {
    await this.load();
    const c = this.logs.get(containerId) ?? (await this.starting.get(containerId)?.catch(() => undefined));
    this.logs.delete(containerId);
    await c?.discard();
    await this.store.delete(containerId);
  }

  /**
   * Shim start-up: resumes every log a previous run left, exactly where its
   * last commit stood (cutting what was written after it), and forgets
   * records of containers that no longer exist. `live` is every container
   * that exists (running or exited); one that was started but has no record
   * (the shim died between Porto's start and `start`) is logged from its
   * first byte.
   */
  async recover(live: LiveContainer[]): Promise<void> {
    await this.load();
    const wanted = new Map(live.map((c) => [c.containerId, c]));
    for (const id of [...this.store.ids()]) {
      if (!wanted.has(id)) {
        this.log.info({ containerId: id }, "forgetting the log of a container that is gone");
        await this.store.delete(id);
      }
    }
    await Promise.all(
      live
        .filter((c) => c.started !== false || this.store.has(c.containerId))
        .map((c) =>
          this.attach(c, true).catch((err: unknown) =>
            this.log.warn({ containerId: c.containerId, err: (err as Error).message }, "cannot resume container log"),
          ),
        ),
    );
  }

  /** Shim shutdown: saves every position and stops following. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.starting.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.logs.values()].map((c) => c.close()));
    this.logs.clear();
  }

  /** Counters since start-up: lines dropped (disk full), bytes lost to rotation, bytes written. */
  stats(): LogCounters & { containers: number } {
    return { ...this.counters, containers: this.logs.size };
  }

  // ---- internals

  private load(): Promise<void> {
    this.loaded ??= this.store.load();
    return this.loaded;
  }

  /**
   * The container's log; one with a record that `recover` has not reached
   * yet (calls served while start-up reconciliation still runs) is resumed
   * from its record here, so a flush never finds it missing.
   */
  private async find(containerId: string): Promise<ContainerLog | undefined> {
    await this.load();
    const known = this.logs.get(containerId) ?? (await this.starting.get(containerId)?.catch(() => undefined));
    if (known || this.closed) return known;
    const record = parseLogRecord(this.store.get(containerId));
    if (!record) return undefined;
    await this.attach(record, true).catch((err: unknown) =>
      this.log.warn({ containerId, err: (err as Error).message }, "cannot resume container log"),
    );
    return this.logs.get(containerId);
  }

  private async attach(spec: ContainerLogSpec, recovering: boolean): Promise<void> {
    if (this.closed) throw new Error("log manager closed");
    const id = spec.containerId;
    if (this.logs.has(id)) return;
    const pending = this.starting.get(id);
    if (pending) {
      await pending;
      return;
    }
    const p = this.open(spec, recovering);
    this.starting.set(id, p);
    try {
      const c = await p;
      if (c) this.logs.set(id, c);
    } finally {
      this.starting.delete(id);
    }
  }

  private async open(spec: ContainerLogSpec, recovering: boolean): Promise<ContainerLog | undefined> {
    if (!spec.logPath) return undefined;
    const existing = this.store.get(spec.containerId);
    let record = existing ? parseLogRecord(existing) : undefined;
    if (existing && !record) this.log.warn({ containerId: spec.containerId }, "log record not understood; starting over");
    if (!record) {
      if (recovering) this.log.info({ containerId: spec.containerId }, "no log record for a started container; logging from its first byte");
      const paths = portoStdioPaths(spec.portoName, this.workDir);
      record = {
        version: 1,
        containerId: spec.containerId,
        portoName: spec.portoName,
        logPath: spec.logPath,
        stdoutPath: spec.stdoutPath ?? paths.stdoutPath,
        stderrPath: spec.stderrPath ?? paths.stderrPath,
        ...(spec.terminal ? { terminal: true } : {}),
        stdout: newCursor(),
        stderr: newCursor(),
        file: null,
        lastTimestampNs: "0",
        final: false,
        raisedFrom: null,
      };
    }
    return ContainerLog.open(this.ctx, record);
  }
}

/** One `get` of what the pump needs; a container that no longer exists is "gone". */
async function portoFacts(porto: LogsPorto, name: string): Promise<PortoStdioFacts> {
  let values;
  try {
    values = (await porto.get([name], ["state", "stdout_offset", "stderr_offset", "stdout_limit"])).get(name);
  } catch (err) {
    if (isPortoError(err, EError.ContainerDoesNotExist)) return { state: "gone" };
    throw err;
  }
  const state = values?.get("state");
  if (!state || "error" in state) {
    if (!state || isPortoError(state.error, EError.ContainerDoesNotExist)) return { state: "gone" };
    throw state.error;
  }
  const num = (property: string): number | undefined => {
    const v = values?.get(property);
    if (!v || "error" in v || !/^\d+$/.test(v.value)) return undefined;
    return Number(v.value);
  };
  return { state: state.value, stdoutOffset: num("stdout_offset"), stderrOffset: num("stderr_offset"), stdoutLimit: num("stdout_limit") };
}

/** A few sets of buffers shared by all containers: memory stays bounded however many containers write. */
class BufferPool {
  private readonly free: PumpBuffers[] = [];
  private readonly waiting: ((b: PumpBuffers) => void)[] = [];
  private made = 0;

  constructor(
    private readonly max: number,
    private readonly chunk: number,
    private readonly outBytes: number,
  ) {}

  acquire(): Promise<PumpBuffers> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    if (this.made < this.max) {
      this.made++;
      return Promise.resolve({
        read: { stdout: Buffer.allocUnsafe(this.chunk), stderr: Buffer.allocUnsafe(this.chunk) },
        out: Buffer.allocUnsafe(this.outBytes),
      });
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(b: PumpBuffers): void {
    const next = this.waiting.shift();
    if (next) next(b);
    else this.free.push(b);
  }
}

export { ContainerNotRunningError };
