/**
 * Running CNI plugins as the CNI spec (0.3.0 to 1.x) and libcni do: a
 * network config list is executed plugin by plugin, ADD in order with each
 * plugin's result handed to the next as `prevResult`, DEL in reverse order,
 * CHECK in order from spec 0.4.0 on. The config each plugin reads on stdin is
 * its own entry with the list's `name` and `cniVersion`, the `prevResult`, and
 * a `runtimeConfig` holding only the capabilities that entry declares.
 *
 * A plugin runs in its own process group with a deadline; when the deadline
 * passes the whole group is killed, since a plugin that hangs (an IPAM
 * daemon not answering, iptables waiting on its lock) would otherwise hold the
 * pod's start forever. What it writes to stderr goes to our log.
 */
import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { hasCheckAndCachedDel } from "./cni-config.js";
import type { CniPluginConfig } from "./cni-config.js";

export type CniCommand = "ADD" | "DEL" | "CHECK";

/** What libcni calls a NetworkConfigList: what a command runs over. */
export interface CniNetworkList {
  name: string;
  cniVersion: string;
  plugins: CniPluginConfig[];
  /** Skip CHECK for this list. */
  disableCheck?: boolean;
}

/** What libcni calls RuntimeConf: the attachment a command is about. */
export interface CniRuntimeConf {
  /** CNI_CONTAINERID: the pod sandbox id. */
  containerId: string;
  /** CNI_NETNS: path of the network namespace. */
  netnsPath: string;
  /** CNI_IFNAME: the interface to create inside the namespace. */
  ifName: string;
  /** CNI_ARGS as key/value pairs, in order. */
  args: ReadonlyArray<readonly [string, string]>;
  /** Capability arguments; each plugin receives those its `capabilities` enable. */
  capabilityArgs: Readonly<Record<string, unknown>>;
}

export interface CniExecOptions {
  /** Directories holding plugin executables, separated by ":" (CNI_PATH). */
  binDir: string;
  /** How long one plugin invocation may run before its process group is killed. */
  timeoutMs: number;
  logger?: Pick<Logger, "debug" | "info" | "warn">;
  /** The environment plugins inherit, before the CNI_* variables; process.env by default. */
  env?: NodeJS.ProcessEnv;
}

/** Output beyond this is dropped: results are a few KiB, and a runaway plugin must not eat our memory. */
const MAX_STDOUT = 4 << 20;
const MAX_STDERR = 64 << 10;

/** A plugin failed, could not be run, or ran out of time. */
export class CniPluginError extends Error {
  override name = "CniPluginError";
  constructor(
    message: string,
    /** The plugin's type (its executable's name). */
    readonly plugin: string,
    readonly command: CniCommand,
    /** The CNI error code from the plugin's error JSON, when it gave one. */
    readonly cniCode?: number,
    /** The error JSON's `details`, when given. */
    readonly details?: string,
    /** True when the plugin was killed at the deadline. */
    readonly timedOut = false,
  ) {
    super(message);
  }
}

/**
 * The config a plugin reads on stdin (libcni's buildOneConfig and
 * injectRuntimeConfig): `runtimeConfig` is replaced only when the plugin
 * declares at least one capability we have arguments for, so a runtimeConfig
 * written in the file survives otherwise.
 */
export function pluginStdin(
  list: Pick<CniNetworkList, "name" | "cniVersion">,
  plugin: CniPluginConfig,
  prevResult: unknown,
  capabilityArgs: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  else delete conf.prevResult;
  const caps = plugin.capabilities;
  if (typeof caps === "object" && caps !== null) {
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, enabled] of Object.entries(caps)) {
      if (enabled === true && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  }
  return conf;
}

/** "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;..." from pairs; refuses what the format cannot carry. */
export function formatCniArgs(args: ReadonlyArray<readonly [string, string]>): string {
  return args
    .map(([k, v]) => {
      if (k === "" || /[;=]/.test(k) || /;/.test(v)) throw new Error(`CNI_ARGS cannot carry ${JSON.stringify(`${k}=${v}`)}`);
      return `${k}=${v}`;
    })
    .join(";");
}

/** The plugin's environment: ours (as libcni passes os.Environ) plus the CNI_* variables. */
export function pluginEnv(command: CniCommand, rt: CniRuntimeConf, binDir: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...base,
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netnsPath,
    CNI_IFNAME: rt.ifName,
    CNI_ARGS: formatCniArgs(rt.args),
    CNI_PATH: binDir,
  };
}

/** The first regular file named `type` in the ":"-separated directories, as libcni's FindInPath. */
export async function findPlugin(type: string, binDir: string): Promise<string> {
  const dirs = binDir.split(":").filter((d) => d !== "");
  if (type === "" || type.includes("/")) throw new CniPluginError(`invalid plugin name ${JSON.stringify(type)}`, type, "ADD");
  for (const dir of dirs) {
    const file = join(dir, type);
    try {
      if ((await stat(file)).isFile()) return file;
    } catch {
      // not in this directory
    }
  }
  throw new CniPluginError(`failed to find plugin ${JSON.stringify(type)} in path [${dirs.join(" ")}]`, type, "ADD");
}

/**
 * Runs one plugin once and returns its parsed stdout (undefined when it
 * printed nothing). A non-zero exit becomes a CniPluginError carrying the
 * plugin's error JSON ({code, msg, details}) when it printed one.
 */
export async function execPlugin(
  plugin: CniPluginConfig,
  command: CniCommand,
  stdin: Record<string, unknown>,
  rt: CniRuntimeConf,
  opts: CniExecOptions,
): Promise<unknown> {
  const type = plugin.type;
  let file: string;
  try {
    file = await findPlugin(type, opts.binDir);
  } catch (err) {
    const e = err as CniPluginError;
    throw new CniPluginError(e.message, type, command);
  }
  const env = pluginEnv(command, rt, opts.binDir, opts.env ?? process.env);
  const started = Date.now();
  const out = await run(file, env, JSON.stringify(stdin), opts.timeoutMs);
  const ms = Date.now() - started;
  const where = { plugin: type, command, containerId: rt.containerId, ms };
  const stderr = out.stderr.trim();
  if (out.spawnError !== undefined) {
    throw new CniPluginError(`${describe(type, command)}: cannot run ${file}: ${out.spawnError.message}`, type, command);
  }
  if (out.timedOut) {
    opts.logger?.warn({ ...where, stderr }, "CNI plugin killed at its deadline");
    throw new CniPluginError(
      `${describe(type, command)}: did not finish within ${formatMs(opts.timeoutMs)} and was killed`,
      type,
      command,
      undefined,
      undefined,
      true,
    );
  }
  if (out.code !== 0) {
    opts.logger?.warn({ ...where, exitCode: out.code, signal: out.signal, stderr, stdout: out.stdout.slice(0, 4096) }, "CNI plugin failed");
    throw pluginFailure(type, command, out);
  }
  if (stderr !== "") opts.logger?.info({ ...where, stderr }, "CNI plugin wrote to stderr");
  else opts.logger?.debug(where, "CNI plugin ran");
  if (out.stdout.trim() === "") return undefined;
  try {
    return JSON.parse(out.stdout);
  } catch (err) {
    throw new CniPluginError(`${describe(type, command)}: output is not JSON: ${(err as Error).message}`, type, command);
  }
}

/**
 * ADD over the list; returns the last plugin's result, the one to keep for
 * DEL and CHECK. A plugin printing nothing passes the previous result on
 * (the spec says it must print it; some chained plugins don't).
 */
export async function addNetworkList(list: CniNetworkList, rt: CniRuntimeConf, opts: CniExecOptions): Promise<unknown> {
  let prevResult: unknown;
  for (const plugin of list.plugins) {
    const result = await execPlugin(plugin, "ADD", pluginStdin(list, plugin, prevResult, rt.capabilityArgs), rt, opts);
    if (result === undefined && prevResult === undefined) {
      throw new CniPluginError(`${describe(plugin.type, "ADD")}: printed no result`, plugin.type, "ADD");
    }
    prevResult = result ?? prevResult;
  }
  return prevResult;
}

/**
 * DEL over the list in reverse order. From 0.4.0 on each plugin gets the
 * ADD result as prevResult, when one was kept (a DEL after an ADD that never
 * finished has none, and plugins must cope). Stops at the first failure as
 * libcni does: the caller keeps its record and retries the whole DEL, which
 * plugins must treat as idempotent.
 */
export async function delNetworkList(
  list: CniNetworkList,
  rt: CniRuntimeConf,
  cachedResult: unknown,
  opts: CniExecOptions,
): Promise<void> {
  const prev = hasCheckAndCachedDel(list.cniVersion) ? cachedResult : undefined;
  for (const plugin of [...list.plugins].reverse()) {
    await execPlugin(plugin, "DEL", pluginStdin(list, plugin, prev, rt.capabilityArgs), rt, opts);
  }
}

/**
 * CHECK over the list, with the ADD result as prevResult. Refused below
 * spec 0.4.0, which has no CHECK; skipped when the list says disableCheck.
 */
export async function checkNetworkList(
  list: CniNetworkList,
  rt: CniRuntimeConf,
  cachedResult: unknown,
  opts: CniExecOptions,
): Promise<void> {
  if (!hasCheckAndCachedDel(list.cniVersion)) {
    throw new CniPluginError(`configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command`, list.plugins[0]?.type ?? "", "CHECK");
  }
  if (list.disableCheck) return;
  if (cachedResult === undefined) {
    throw new CniPluginError(`network ${JSON.stringify(list.name)}: no ADD result to CHECK against`, list.plugins[0]?.type ?? "", "CHECK");
  }
  for (const plugin of list.plugins) {
    await execPlugin(plugin, "CHECK", pluginStdin(list, plugin, cachedResult, rt.capabilityArgs), rt, opts);
  }
}

interface RunOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: Error;
}

function run(file: string, env: NodeJS.ProcessEnv, input: string, timeoutMs: number): Promise<RunOutput> {
  return new Promise((resolve) => {
    // detached: a process group of its own, so the deadline kills what the
    // plugin started too (iptables, ipam helpers), not just the plugin.
    const child = spawn(file, [], { env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let spawnError: Error | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => {
      if (outBytes < MAX_STDOUT) stdout.push(b);
      outBytes += b.length;
    });
    child.stderr.on("data", (b: Buffer) => {
      if (errBytes < MAX_STDERR) stderr.push(b);
      errBytes += b.length;
    });
    // A plugin may exit without reading stdin; EPIPE then is not our failure.
    child.stdin.on("error", () => {});
    child.on("error", (err) => {
      spawnError = err;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8").slice(0, MAX_STDERR),
        timedOut,
        spawnError,
      });
    });
    child.stdin.end(input);
  });
}

/** The error a failed plugin reported, in its words when it printed the spec's error JSON. */
function pluginFailure(type: string, command: CniCommand, out: RunOutput): CniPluginError {
  let parsed: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  try {
    const v: unknown = JSON.parse(out.stdout);
    if (typeof v === "object" && v !== null) parsed = v as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const status = out.signal !== null ? `killed by ${out.signal}` : `exit status ${out.code}`;
  if (parsed !== undefined && (typeof parsed.msg === "string" || typeof parsed.code === "number")) {
    const code = typeof parsed.code === "number" ? parsed.code : undefined;
    const msg = typeof parsed.msg === "string" && parsed.msg !== "" ? parsed.msg : status;
    const details = typeof parsed.details === "string" && parsed.details !== "" ? parsed.details : undefined;
    const text = `${describe(type, command)}: ${msg}${details ? `; ${details}` : ""}${code !== undefined ? ` (CNI error ${code}${CNI_ERROR_NAMES[code] ? `: ${CNI_ERROR_NAMES[code]}` : ""})` : ""}`;
    return new CniPluginError(text, type, command, code, details);
  }
  // Not the spec's error JSON: what it said on stderr is the best explanation.
  const said = (out.stderr.trim() || out.stdout.trim()).split("\n").slice(-5).join(" | ");
  return new CniPluginError(`${describe(type, command)}: ${status}${said ? `: ${said}` : ""}`, type, command);
}

/** The spec's well-known error codes, named in messages. */
const CNI_ERROR_NAMES: Readonly<Record<number, string>> = {
  1: "incompatible CNI version",
  2: "unsupported field in network configuration",
  3: "container unknown or does not exist",
  4: "invalid necessary environment variables",
  5: "I/O failure",
  6: "failed to decode content",
  7: "invalid network config",
  11: "try again later",
  50: "the plugin is not available",
  51: "the plugin is not available, and existing containers may be damaged",
};

function describe(type: string, command: CniCommand): string {
  return `CNI plugin ${JSON.stringify(type)} failed (${command.toLowerCase()})`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
