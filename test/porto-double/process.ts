/**
 * Runs a container's command as a real child process of the double. No
 * namespaces, cgroups or root file system: the process runs on the host, in
 * its own process group (our stand-in for the freezer cgroup, so stop and
 * pause reach every descendant). When the double runs as root and the
 * container's user/group differ, the process gets that uid/gid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { EError } from "../../gen/rpc_pb.js";
import { fail } from "./errors.js";

export interface SpawnSpec {
  argv: string[];
  env: Map<string, string>;
  cwd: string;
  stdinPath: string;
  stdoutPath: string;
  stderrPath: string;
  user: string;
  group: string;
}

/** Starts the process and waits until exec succeeded; failures map to portod's codes. */
export async function spawnTask(spec: SpawnSpec): Promise<ChildProcess> {
  if (spec.argv.length === 0 || spec.argv[0] === "")
    throw fail(EError.InvalidCommand, "No such file or directory: cannot exec ");
  if (!existsSync(spec.cwd)) throw fail(EError.InvalidPath, `No such file or directory: Cannot chdir ${spec.cwd}`);

  const fds: number[] = [];
  const open = (path: string, flags: string) => {
    if (flags !== "r") mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(path, flags);
    fds.push(fd);
    return fd;
  };
  let child: ChildProcess;
  try {
    const stdio = [open(spec.stdinPath, "r"), open(spec.stdoutPath, "a"), open(spec.stderrPath, "a")];
    const ids = credentials(spec.user, spec.group);
    child = spawn(spec.argv[0], spec.argv.slice(1), {
      cwd: spec.cwd,
      env: Object.fromEntries(spec.env),
      stdio,
      detached: true,
      ...ids,
    });
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  // events.once() would reject on "error"; listen to both outcomes by hand.
  const outcome = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    child.once("spawn", () => resolve(undefined));
    child.once("error", (e) => resolve(e));
  });
  if (outcome) {
    const text = outcome.code === "ENOENT" ? "No such file or directory" : outcome.code === "EACCES" ? "Permission denied" : outcome.message;
    throw fail(EError.InvalidCommand, `${text}: cannot exec ${spec.argv[0]}`);
  }
  return child;
}

/** A raw wait status, as portod stores in exit_status: code<<8, or the signal number. */
export function waitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return signalNumber(signal);
  return ((code ?? 0) & 0xff) << 8;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17,
  SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25,
  SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

export function signalNumber(sig: string): number {
  return SIGNALS[sig] ?? 0;
}

/** Sends a signal to a whole process group, ignoring a group that is already gone. */
export function killGroup(pid: number, sig: NodeJS.Signals | number): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

function credentials(user: string, group: string): { uid?: number; gid?: number } {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return {};
  const uid = lookupId("/etc/passwd", user);
  const gid = lookupId("/etc/group", group);
  const out: { uid?: number; gid?: number } = {};
  if (uid !== undefined && uid !== 0) out.uid = uid;
  if (gid !== undefined && gid !== 0) out.gid = gid;
  return out;
}

function lookupId(file: string, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name) return Number(f[2]);
    }
  } catch {
    /* no database */
  }
  return undefined;
}

/** The number of a user or group name (or number) in the host's databases, undefined when unknown. */
export function hostId(kind: "user" | "group", name: string): number | undefined {
  return lookupId(kind === "user" ? "/etc/passwd" : "/etc/group", name);
}

/** True when a user or group name (or number) exists in the host's databases. */
export function knownId(kind: "user" | "group", name: string): boolean {
  return lookupId(kind === "user" ? "/etc/passwd" : "/etc/group", name) !== undefined;
}
