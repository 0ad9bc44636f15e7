/**
 * The double's daemon state and the container life cycle, following
 * TContainer::Create/Start/Stop/Exit/Pause/Resume/Destroy in src/container.cpp.
 * Handlers call these; waiters hear every state change through setState.
 */
import type { ChildProcess } from "node:child_process";
import { hostname } from "node:os";
import { isAbsolute, join } from "node:path";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { EError } from "../../gen/rpc_pb.js";
import { Container, type State } from "./container.js";
import { Env } from "./env.js";
import { fail, PortoError } from "./errors.js";
import { CONTAINER_LEVEL_MAX, parentName, resolveName, ROOT, validName } from "./names.js";
import { killGroup, spawnTask, waitStatus } from "./process.js";
import { WaiterRegistry, type WaitClient } from "./waiters.js";
import { wordexp } from "./wordexp.js";
import { rotateLog } from "./rotate-log.js";
import type { Volumes } from "./volumes.js";

export interface DaemonOptions {
  /** Stands in for /place/porto: containers' default work directories (cwd, stdout, stderr). */
  workDir: string;
  /** Root client: container paths up to 220 bytes instead of 200. */
  superuser: boolean;
  /** Default stop timeout when a stop request carries none (portod: 30 s). */
  stopTimeoutMs: number;
  /** The root container's ulimits (portod.conf default_ulimit and portod's own): every container inherits them. */
  defaultUlimit: string;
  /** How often running containers' stdout/stderr are rotated at stdout_limit (portod's log_rotate_ms: 1 s); 0 never. */
  logRotateMs?: number;
  /** Whose descriptors `/dev/fd/N` stream paths name; default the double's own process. */
  redirectPid?: number;
}

/**
 * The root container's ulimits on the portod this double was checked against: portod.conf's
 * default_ulimit on this machine kind, plus the nproc limit portod adds itself.
 */
export const DEFAULT_ULIMIT = "core: 0 unlimited; nofile: 8192 16384; memlock: 8M 8M; nproc: 16384 16384";

/** A connection as the life cycle sees it: waiters and the weak containers it created. */
export interface Client extends WaitClient {
  readonly weakContainers: Container[];
}

export class Daemon {
  readonly containers = new Map<string, Container>();
  readonly waiters = new WaiterRegistry();
  readonly root: Container;
  readonly hostname = hostname();
  volumes!: Volumes;
  private nextId = 2;
  /** Containers created, started, ... since start (GetSystem counters). */
  readonly stats = { created: 0, started: 0, startFailed: 0, requests: 0, failed: 0, clients: 0 };

  private rotateTimer: NodeJS.Timeout | undefined;

  constructor(readonly options: DaemonOptions) {
    this.root = new Container(ROOT, undefined, 1);
    this.root.state = "meta";
    this.containers.set(ROOT, this.root);
    const every = options.logRotateMs ?? 1000;
    if (every > 0) {
      // EEventType::RotateLogs: running containers only.
      this.rotateTimer = setInterval(() => {
        for (const ct of this.containers.values()) if (ct.state === "running") this.rotateStreams(ct);
      }, every);
      this.rotateTimer.unref();
    }
  }

  /** TStdStream::Rotate of both streams: files portod owns (not redirects) lose their head past stdout_limit. */
  rotateStreams(ct: Container): void {
    const limit = Number(ct.text.get("stdout_limit") ?? "8388608");
    for (const name of ["stdout", "stderr"] as const) {
      const path = this.streamPath(ct, ct[name].path, ct[name].outside);
      if (path === "/dev/null") continue;
      ct.streamOffset[name] += rotateLog(path, limit);
    }
  }

  /** CL->ResolveContainer / TContainer::Find. */
  find(relative: string): Container {
    const name = resolveName(relative);
    const ct = this.containers.get(name);
    if (!ct) throw fail(EError.ContainerDoesNotExist, `container ${name} not found`);
    return ct;
  }

  /** Like find, but refuses the root container for writes (CL->WriteContainer / CL->CanControl). */
  findWritable(relative: string): Container {
    const ct = this.find(relative);
    if (ct.isRoot) throw fail(EError.Permission, "Write access denied: root container is read-only");
    return ct;
  }

  /** TContainer::Create. */
  create(relative: string, weak: boolean, client: Client | undefined): Container {
    const name = resolveName(relative);
    validName(name, this.options.superuser);
    const parent = name === ROOT ? undefined : this.containers.get(parentName(name));
    if (!parent && name !== ROOT) throw fail(EError.ContainerDoesNotExist, "parent container not found for " + name);
    if (parent && parent.level === CONTAINER_LEVEL_MAX)
      throw fail(EError.InvalidValue, `You shall not go deeper! Maximum level is ${CONTAINER_LEVEL_MAX}`);
    if (this.containers.has(name)) throw fail(EError.ContainerAlreadyExists, `container ${name} already exists`);
    const ct = new Container(name, parent, this.nextId++);
    this.containers.set(name, ct);
    parent?.children.push(ct);
    this.stats.created++;
    if (weak) {
      ct.weak = true;
      client?.weakContainers.push(ct);
    }
    this.waiters.reportAll(ct);
    return ct;
  }

  /** TContainer::SetState with its reports to waiters. */
  setState(ct: Container, next: State): void {
    if (ct.state === next) return;
    const prev = ct.state;
    ct.state = next;
    if (next === "dead" && ct.respawn) this.scheduleRespawn(ct);
    if (prev === "running" || next === "running") {
      for (let p = ct.parent; p; p = p.parent)
        if (p.runningChildren === 0 && p.state === "meta") this.waiters.reportAll(p);
    }
    let label = "";
    let value = "";
    const s = ct.state;
    if ((s === "stopped" || s === "dead" || s === "respawning") && ct.startError) {
      label = "start_error";
      value = errorToString(ct.startError);
    } else if (s === "dead" || s === "respawning") {
      label = "exit_code";
      value = String(ct.exitCode);
    }
    this.waiters.reportAll(ct, label, value);
    if (ct.state === "dead") this.armAging(ct);
  }

  /** TContainer::Start, including starting stopped parents (as meta, or running their commands). */
  async start(ct: Container): Promise<void> {
    if (ct.state !== "stopped")
      throw fail(EError.InvalidState, `Cannot start container ${ct.name} in state ${ct.state}`);
    await this.startParents(ct);
    if (ct.state !== "stopped") {
      if (ct.isRunningOrMeta) return;
      throw fail(EError.InvalidState, `Cannot start container ${ct.name} in state ${ct.state}`);
    }
    ct.startError = undefined;
    this.setState(ct, "starting");
    ct.startTimeMs = Date.now();
    ct.realStartTime = Math.floor(ct.startTimeMs / 1000);
    ct.streamOffset.stdout = ct.streamOffset.stderr = 0; // TStdStream::Open
    try {
      mkdirSync(this.workDir(ct), { recursive: true });
      if (!ct.isMeta) await this.startTask(ct);
    } catch (e) {
      const error = e instanceof PortoError ? e : fail(EError.Unknown, String(e));
      ct.startError = error;
      ct.startTimeMs = 0;
      ct.realStartTime = 0;
      this.stats.startFailed++;
      this.setState(ct, "stopped");
      throw error;
    }
    this.setState(ct, ct.isMeta ? "meta" : "running");
    this.stats.started++;
  }

  private async startParents(ct: Container): Promise<void> {
    const parent = ct.parent;
    if (!parent || parent.isRunningOrMeta) return;
    if (parent.state === "paused") throw fail(EError.InvalidState, "Parent container is frozen");
    let target: Container;
    do {
      target = parent;
      while (target.parent && !target.parent.isRunningOrMeta) target = target.parent;
      if (!target.isRunningOrMeta) await this.start(target);
    } while (target !== parent);
  }

  private async startTask(ct: Container): Promise<void> {
    const env = this.environment(ct);
    const argv = ct.hasArgv ? ct.commandArgv : wordexp(ct.command, env.toMap());
    const child = await spawnTask({
      argv,
      env: env.toMap(),
      cwd: this.cwd(ct),
      stdinPath: this.streamPath(ct, ct.stdin.path, ct.stdin.outside),
      stdoutPath: this.streamPath(ct, ct.stdout.path, ct.stdout.outside),
      stderrPath: this.streamPath(ct, ct.stderr.path, ct.stderr.outside),
      user: ct.user,
      group: ct.group,
    });
    ct.process = child;
    ct.pid = child.pid ?? 0;
    const monitor = this.watchMemory(ct, child);
    child.on("exit", (code, signal) => {
      clearInterval(monitor);
      this.onExit(ct, child, waitStatus(code, signal));
    });
  }

  /**
   * The memory cgroup's OOM killer, approximated: while memory_limit is set,
   * the process group's resident memory is sampled and the group is killed
   * with SIGKILL when it exceeds the limit, which portod reports as
   * oom_killed=true and exit_code -99 (with oom_is_fatal, the default).
   */
  private watchMemory(ct: Container, child: ChildProcess): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (!ct.memoryLimit || ct.process !== child || !ct.pid) return;
      if (groupRss(ct.pid) > ct.memoryLimit) {
        // With oom_is_fatal=false portod 5.3.59 reports a task the kernel killed as a
        // plain SIGKILL (exit_code -9, oom_killed false); only oom_kills counts it.
        ct.oomKilled = (ct.text.get("oom_is_fatal") ?? "true") === "true";
        ct.oomKills++;
        killGroup(ct.pid, "SIGKILL");
      }
    }, 25);
    timer.unref();
    return timer;
  }

  /** TContainer::Exit: the main task ended; the whole subtree is reaped and becomes dead. */
  private onExit(ct: Container, child: ChildProcess, status: number): void {
    if (ct.process !== child) return;
    ct.process = undefined;
    if (ct.state === "stopped" || ct.state === "stopping" || ct.state === "destroyed") return;
    ct.exitStatus = status;
    for (const c of ct.subtree()) {
      if (c.state !== "stopped" && c.state !== "dead") this.reap(c);
    }
  }

  private reap(ct: Container): void {
    if (ct.pid) killGroup(ct.pid, "SIGKILL");
    if (!ct.deathTimeMs) {
      ct.deathTimeMs = Date.now();
      ct.realDeathTime = Math.floor(ct.deathTimeMs / 1000);
    }
    ct.pid = 0;
    ct.pausedSelf = false;
    this.rotateStreams(ct); // TContainer::Exit rotates once more before Dead
    this.setState(ct, "dead");
  }

  /** TContainer::Kill: only a running container's main task. */
  kill(ct: Container, sig: number): void {
    if (ct.state !== "running") throw fail(EError.InvalidState, `invalid container state=${ct.state}`);
    try {
      process.kill(ct.pid, sig);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw fail(EError.Unknown, `${code === "EINVAL" ? "Invalid argument" : String(e)}: kill(${ct.pid})`);
    }
  }

  /** TContainer::Stop: SIGTERM, wait up to the timeout, SIGKILL the rest; the subtree ends stopped. */
  async stop(ct: Container, timeoutMs: number): Promise<void> {
    if (ct.state === "stopped") return;
    for (let p = ct.parent; p; p = p.parent)
      if (p.pausedSelf) throw fail(EError.InvalidState, "Parent container is paused");
    const subtree = ct.subtree();
    const deadline = timeoutMs ? Date.now() + timeoutMs : 0;
    if (!timeoutMs) for (const c of [...subtree].reverse()) if (c.pid) killGroup(c.pid, "SIGKILL");
    for (const c of subtree) {
      if (c.isRoot || c.state === "stopped") continue;
      this.setState(c, "stopping");
      await this.terminate(c, deadline);
    }
    for (const c of subtree) {
      if (c.state === "stopped") continue;
      c.pid = 0;
      c.process = undefined;
      c.pausedSelf = false;
      c.startTimeMs = 0;
      c.realStartTime = 0;
      c.deathTimeMs = 0;
      c.realDeathTime = 0;
      c.exitStatus = 0;
      c.oomKilled = false;
      c.oomKills = 0;
      this.removeDefaultStreams(c);
      if (c.agingTimer) clearTimeout(c.agingTimer);
      if (c.respawnTimer) clearTimeout(c.respawnTimer);
      this.setState(c, "stopped");
    }
  }

  private async terminate(ct: Container, deadline: number): Promise<void> {
    const child = ct.process;
    const pid = ct.pid;
    if (!pid || !child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    if (ct.pausedSelf || ct.state === "paused") killGroup(pid, "SIGCONT");
    if (deadline && !ct.isMeta) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* gone */
      }
      await within(exited, Math.max(0, deadline - Date.now()));
    }
    killGroup(pid, "SIGKILL");
    killGroup(pid, "SIGCONT");
    await within(exited, 5000);
  }

  /** TStdStream::Remove at stop: portod's own relative stdout/stderr files go; client-chosen ones stay. */
  private removeDefaultStreams(ct: Container): void {
    for (const s of [ct.stdout, ct.stderr]) {
      if (!s.outside || isAbsolute(s.path) || s.path === "") continue;
      rmSync(this.streamPath(ct, s.path, true), { force: true });
    }
  }

  /** TContainer::Pause: freezes the subtree (SIGSTOP to each process group). */
  pause(ct: Container): void {
    if (ct.state !== "running" && ct.state !== "meta") throw fail(EError.InvalidState, "Contaner not running");
    for (const c of ct.subtree()) {
      if (c.pid) killGroup(c.pid, "SIGSTOP");
      if (c.state === "running" || c.state === "meta") this.setState(c, "paused");
    }
    ct.pausedSelf = true;
  }

  /** TContainer::Resume. */
  resume(ct: Container): void {
    for (let p = ct.parent; p; p = p.parent)
      if (p.pausedSelf) throw fail(EError.InvalidState, "Parent container is paused");
    if (!ct.pausedSelf) throw fail(EError.InvalidState, "Container not paused");
    for (const c of ct.subtree()) {
      c.pausedSelf = false;
      if (c.pid) killGroup(c.pid, "SIGCONT");
      if (c.state === "paused") this.setState(c, c.isMeta ? "meta" : "running");
    }
  }

  /** TContainer::Respawn (explicit request): only dead containers, with a running parent. */
  async respawnNow(ct: Container): Promise<void> {
    this.mayRespawn(ct);
    await this.stop(ct, 0);
    ct.respawnCount++;
    await this.start(ct);
  }

  private mayRespawn(ct: Container): void {
    if (ct.state !== "dead" && ct.state !== "respawning")
      throw fail(EError.InvalidState, `Cannot respawn: container in state=${ct.state}`);
    const ps = ct.parent?.state;
    if (ps !== "running" && ps !== "meta" && ps !== "respawning")
      throw fail(EError.InvalidState, `Cannot respawn: parent container in state=${ps}`);
    if (ct.maxRespawns >= 0n && ct.respawnCount >= ct.maxRespawns)
      throw fail(EError.ResourceNotAvailable, `Cannot respawn: reached max_respawns=${ct.maxRespawns}`);
  }

  private scheduleRespawn(ct: Container): void {
    try {
      this.mayRespawn(ct);
    } catch {
      return;
    }
    ct.state = "respawning";
    const ms = Math.max(50, Number(ct.respawnDelayNs / 1_000_000n));
    ct.respawnTimer = setTimeout(() => {
      if (ct.state !== "respawning") return;
      void this.respawnNow(ct).catch(() => undefined);
    }, ms);
    ct.respawnTimer.unref();
  }

  /** Dead containers are destroyed after aging_time from their death, as portod's periodic cleanup does. */
  armAging(ct: Container): void {
    if (ct.agingTimer) clearTimeout(ct.agingTimer);
    const death = ct.deathTimeMs;
    ct.agingTimer = setTimeout(() => {
      if (ct.state === "dead" && ct.deathTimeMs === death && this.containers.get(ct.name) === ct)
        void this.destroy(ct).catch(() => undefined);
    }, Math.max(0, Math.min(death + ct.agingTimeMs - Date.now(), 2 ** 31 - 1)));
    ct.agingTimer.unref();
  }

  /** TContainer::Destroy: stops the subtree, unlinks volumes, forgets every container in it. */
  async destroy(ct: Container): Promise<void> {
    if (ct.state === "destroyed") throw fail(EError.ContainerDoesNotExist, "Container was destroyed");
    if (ct.state !== "stopped") await this.stop(ct, 0);
    for (const c of ct.subtree()) {
      if (c.state === "destroyed") continue;
      this.volumes.unlinkAll(c);
      rmSync(this.workDir(c), { recursive: true, force: true });
      if (c.agingTimer) clearTimeout(c.agingTimer);
      if (c.respawnTimer) clearTimeout(c.respawnTimer);
      this.containers.delete(c.name);
      const siblings = c.parent?.children;
      if (siblings) siblings.splice(siblings.indexOf(c), 1);
      c.state = "destroyed";
      this.waiters.reportAll(c);
    }
  }

  /** Weak containers die with the connection that created them. */
  clientClosed(client: Client): void {
    this.waiters.dropClient(client);
    for (const ct of client.weakContainers) {
      if (ct.weak && this.containers.get(ct.name) === ct) void this.destroy(ct).catch(() => undefined);
    }
    client.weakContainers.length = 0;
  }

  /** Kills every process the double started (used by close()). */
  killAll(): void {
    clearInterval(this.rotateTimer);
    for (const ct of this.containers.values()) {
      if (ct.pid) {
        killGroup(ct.pid, "SIGKILL");
        killGroup(ct.pid, "SIGCONT");
      }
      if (ct.agingTimer) clearTimeout(ct.agingTimer);
      if (ct.respawnTimer) clearTimeout(ct.respawnTimer);
    }
  }

  workDir(ct: Container): string {
    return join(this.options.workDir, ct.name);
  }

  /** TContainer::GetCwd: own or inherited cwd, else the container's work directory. */
  cwd(ct: Container): string {
    let cwd = "";
    for (let c: Container | undefined = ct; c; c = c.parent) {
      if (c.cwd !== "") cwd = cwd === "" ? c.cwd : join(c.cwd, cwd);
      if (isAbsolute(cwd)) return cwd;
      if (c.root !== "/") return join("/", cwd);
    }
    if (ct.isRoot) return "/";
    return this.workDir(ct);
  }

  /** TContainer::GetEnvironment: porto's defaults, then own env, then parents' up to an isolated one. */
  environment(ct: Container): Env {
    const env = new Env();
    env.setEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    env.setEnv("HOME", this.cwd(ct));
    env.setEnv("USER", ct.user);
    env.setEnv("container", "lxc");
    env.setEnv("PORTO_NAME", ct.name, true, true);
    env.setEnv("PORTO_HOST", this.hostname, true, true);
    env.setEnv("PORTO_USER", "root", true, true);
    let overwrite = true;
    for (let c: Container | undefined = ct; c; c = c.parent) {
      env.parse(c.envCfg, overwrite);
      overwrite = false;
      if (c.isolate) break;
    }
    return env;
  }

  /**
   * TStdStream::ResolveOutside without a container root: portod's defaults are
   * relative to the work directory; client paths are absolute or relative to
   * cwd. `/dev/fd/N` names descriptor N of the requesting client process, which
   * portod opens as /proc/<client pid>/fd/N. The double cannot learn a peer's
   * pid (Node has no SO_PEERCRED), so it assumes the client is
   * `options.redirectPid`: its own process by default, which is right for
   * tests that run the double in-process, as the shim's tests do.
   */
  streamPath(ct: Container, path: string, outside: boolean): string {
    if (path.startsWith("/dev/fd/")) return `/proc/${this.options.redirectPid ?? process.pid}/fd/${path.slice(8)}`;
    if (path === "" || path === "/dev/null") return "/dev/null";
    if (outside) return isAbsolute(path) ? path : join(this.workDir(ct), path);
    if (isAbsolute(path)) return path;
    return join(this.cwd(ct), path);
  }
}

const PAGE_SIZE = 4096n;

/** Resident bytes of every process in the process group `pgid` (from /proc/<pid>/stat). */
function groupRss(pgid: number): bigint {
  let total = 0n;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return 0n;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields[0] is state (field 3); pgrp is field 5, rss (pages) field 24.
      if (Number(fields[2]) === pgid) total += BigInt(fields[21]) * PAGE_SIZE;
    } catch {
      /* gone */
    }
  }
  return total;
}

/** TError::ToString: `Name:(message)`. */
export function errorToString(e: PortoError): string {
  const name = EError[e.code] ?? String(e.code);
  return e.message ? `${name}:(${e.message})` : name;
}

/** Resolves when `p` settles or after `ms`, whichever is first, without leaving a timer behind. */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
