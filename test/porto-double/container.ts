/**
 * One container record, with the fields portod's TContainer keeps that the
 * double models. Behaviour (state changes, processes) lives in daemon.ts;
 * text formats live in properties.ts.
 */
import type { ChildProcess } from "node:child_process";
import type { PortoError } from "./errors.js";

export type State =
  | "stopped"
  | "starting"
  | "running"
  | "stopping"
  | "paused"
  | "meta"
  | "respawning"
  | "dead"
  | "destroyed";

export interface StdStream {
  path: string;
  /** True for portod's own defaults (relative to the work dir); false when a client set it. */
  outside: boolean;
}

export class Container {
  readonly children: Container[] = [];
  readonly level: number;
  state: State = "stopped";

  command = "";
  commandArgv: string[] = [];
  /** COMMAND_ARGV is set: argv is used verbatim instead of wordexp(command). */
  hasArgv = false;
  envCfg = "";
  cwd = "";
  root = "/";
  stdin: StdStream = { path: "/dev/null", outside: true };
  stdout: StdStream = { path: "stdout", outside: true };
  stderr: StdStream = { path: "stderr", outside: true };
  /** stdout_offset / stderr_offset: bytes rotation dropped from the files' heads since the start. */
  readonly streamOffset = { stdout: 0, stderr: 0 };
  user = "root";
  group = "root";
  isolate = true;
  weak = false;
  private = "";
  /** Milliseconds, as portod keeps it. */
  agingTimeMs = 86_400_000;
  accessLevel = "true";
  memoryLimit = 0n;
  cpuLimit = 0n;
  respawn = false;
  maxRespawns = -1n;
  respawnCount = 0n;
  respawnDelayNs = 1_000_000_000n;
  readonly labels = new Map<string, string>();
  /** Properties the double keeps as verbatim text (see properties.ts). */
  readonly text = new Map<string, string>();
  /** Names of properties explicitly set (portod's HasProp bits that matter to clients). */
  readonly setProps = new Set<string>();

  /** Epoch seconds. */
  creationTime: number;
  changeTime: number;
  startTimeMs = 0;
  realStartTime = 0;
  deathTimeMs = 0;
  realDeathTime = 0;
  exitStatus = 0;
  oomKilled = false;
  /** OOM kills since start (oom_kills). */
  oomKills = 0;
  startError: PortoError | undefined;

  process: ChildProcess | undefined;
  pid = 0;
  /** Paused by a pause request on this container (cgroup freezer "self freezing"). */
  pausedSelf = false;
  agingTimer: NodeJS.Timeout | undefined;
  respawnTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly parent: Container | undefined,
    readonly id: number,
  ) {
    this.level = parent ? parent.level + 1 : 0;
    this.creationTime = Math.floor(Date.now() / 1000);
    this.changeTime = this.creationTime;
  }

  get isRoot(): boolean {
    return this.parent === undefined;
  }

  /** TContainer::IsMeta: no command (and no argv) means portoinit keeps it as a meta container. */
  get isMeta(): boolean {
    return this.command === "" && !this.hasArgv;
  }

  get isRunningOrMeta(): boolean {
    return this.state === "running" || this.state === "meta";
  }

  /** Running descendants, as TContainer::RunningChildren counts them. */
  get runningChildren(): number {
    let n = 0;
    for (const c of this.children) n += (c.state === "running" ? 1 : 0) + c.runningChildren;
    return n;
  }

  /** TContainer::Subtree: descendants before ancestors, this container last. */
  subtree(): Container[] {
    const out: Container[] = [];
    const walk = (c: Container) => {
      for (const ch of c.children) walk(ch);
      out.push(c);
    };
    walk(this);
    return out;
  }

  /** TContainer::GetExitCode: 0-255, -signal, -99 for OOM; 256 when not dead. */
  get exitCode(): number {
    if (this.state !== "dead" && this.state !== "respawning") return 256;
    if (this.oomKilled) return -99;
    const sig = this.exitStatus & 0x7f;
    if (sig !== 0 && sig !== 0x7f) return -sig;
    return (this.exitStatus >> 8) & 0xff;
  }

  hasLabelChain(label: string): string | undefined {
    for (let c: Container | undefined = this; c; c = c.parent) {
      const v = c.labels.get(label);
      if (v !== undefined) return v;
    }
    return undefined;
  }
}
