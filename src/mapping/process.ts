/**
 * The container's process as containerd builds it: argv from command/args
 * and the image's Entrypoint/Cmd, the environment, the working directory.
 * argv goes to Porto as `command_argv`, exactly as given: never through a
 * shell, never with argv[0] rewritten. portod execs it with execvpe(3) after
 * setting the container's environment, so argv[0] is looked up on the
 * container's own PATH inside its root, as runc does; `resolveExecutable`
 * repeats that lookup for callers that can see the root filesystem.
 */
import { posix } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { TContainerEnvSchema } from "../../gen/rpc_pb.js";
import type { KeyValue } from "../../gen/runtime/v1/api_pb.js";
import type { ImageRuntimeConfig } from "./image-runtime.js";

/** The PATH an OCI spec starts with (containerd's defaultUnixEnv; Porto's default is the same). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * argv by containerd's rules (WithProcessArgs, after moby): command set:
 * command + args; else args set: Entrypoint + args; else Entrypoint + Cmd.
 * An Entrypoint of exactly [""] means "no entrypoint". Nothing at all is an error.
 */
export function processArgs(command: string[], args: string[], image: ImageRuntimeConfig): string[] {
  let cmd = [...command];
  let rest = [...args];
  if (cmd.length === 0) {
    if (rest.length === 0) rest = [...image.cmd];
    if (!(image.entrypoint.length === 1 && image.entrypoint[0] === "")) cmd = [...image.entrypoint];
  }
  const argv = [...cmd, ...rest];
  if (argv.length === 0) throw new ConnectError("no command specified", Code.InvalidArgument);
  argv.forEach((a, i) => {
    if (a.includes("\0")) throw new ConnectError(`command/args: argument ${i} contains a NUL byte`, Code.InvalidArgument);
  });
  return argv;
}

/** config.working_dir, else the image's WorkingDir, else "/". */
export function workingDir(configDir: string, image: ImageRuntimeConfig): string {
  const dir = configDir || image.workingDir || "/";
  // Docker allows a relative WORKDIR only after an absolute one; containerd passes
  // what it gets to runc, which refuses a relative cwd. Refuse it here by name.
  if (!dir.startsWith("/"))
    throw new ConnectError(
      `${configDir ? "working_dir" : "image config WorkingDir"}: ${JSON.stringify(dir)} is not an absolute path`,
      Code.InvalidArgument,
    );
  const n = posix.normalize(dir);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

export interface EnvInput {
  /** The sandbox's hostname, exported as HOSTNAME like containerd does. */
  hostname: string;
  /** The image's Env, "NAME=value" each. */
  image: string[];
  /** The container config's envs. */
  config: KeyValue[];
  /** The container has a terminal: TERM=xterm by default, as containerd's oci.WithTTY sets. */
  tty?: boolean;
}

/**
 * The environment, "NAME=value" each, in containerd's order: PATH default,
 * TERM=xterm with a tty, HOSTNAME, then the image's Env, then the config's envs; a later entry with
 * the same name replaces an earlier one in place (replaceOrAppendEnvValues),
 * and an image entry without "=" removes the name.
 */
export function processEnv(input: EnvInput): string[] {
  const overrides = [...input.image];
  input.config.forEach((kv, i) => {
    if (kv.key === "" || kv.key.includes("="))
      throw new ConnectError(`envs[${i}].key: ${JSON.stringify(kv.key)} is not a variable name`, Code.InvalidArgument);
    const value = decodeUtf8(kv.value);
    if (kv.key.includes("\0") || value.includes("\0"))
      throw new ConnectError(`envs[${i}]: contains a NUL byte`, Code.InvalidArgument);
    overrides.push(`${kv.key}=${value}`);
  });
  // containerd would take the node's name for an empty hostname; the mapping cannot look it up, so none is set.
  const hostname = input.hostname === "" ? [] : [`HOSTNAME=${input.hostname}`];
  const defaults = input.tty ? [`PATH=${DEFAULT_PATH}`, "TERM=xterm"] : [`PATH=${DEFAULT_PATH}`];
  return replaceOrAppend(replaceOrAppend(defaults, hostname), overrides);
}

function replaceOrAppend(defaults: string[], overrides: string[]): string[] {
  const results: (string | undefined)[] = [...defaults];
  const index = new Map<string, number>();
  defaults.forEach((e, i) => index.set(envName(e), i));
  for (const e of overrides) {
    const name = envName(e);
    const at = index.get(name);
    if (!e.includes("=")) {
      if (at !== undefined) results[at] = undefined;
      continue;
    }
    if (at !== undefined && results[at] !== undefined) results[at] = e;
    else {
      results.push(e);
      index.set(name, results.length - 1);
    }
  }
  return results.filter((e): e is string => e !== undefined);
}

function envName(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** The value of `name` in an environment list; undefined when it is not there. */
export function envValue(env: readonly string[], name: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    if (envName(env[i]) === name) return env[i].slice(name.length + 1);
  }
  return undefined;
}

/**
 * Variables portod puts into every container's environment unless told
 * otherwise: USER (the task user's name) and container=lxc. containerd sets
 * neither, so they are unset. HOME portod sets to the working directory;
 * runc sets it from the user's passwd entry, so it is always given.
 * PORTO_NAME, PORTO_HOST and PORTO_USER portod locks: they cannot be removed
 * or overridden (seen on portod 5.3.59).
 */
const PORTO_ADDED = ["USER", "container"];
export const PORTO_LOCKED = ["PORTO_NAME", "PORTO_HOST", "PORTO_USER"];

/**
 * The environment as Porto's `env`: every entry in order, HOME from `home`
 * when the list has none (runc's rule), and portod's own additions unset.
 * Values go through verbatim: portod escapes ";" and "\" itself (checked on
 * 5.3.59 with ";", "\\", "=" and newlines in values).
 */
export function portoEnv(env: readonly string[], home: string): MessageInitShape<typeof TContainerEnvSchema> {
  const vars: { name: string; value?: string }[] = env.map((e) => ({ name: envName(e), value: e.slice(envName(e).length + 1) }));
  if (envValue(env, "HOME") === undefined) vars.push({ name: "HOME", value: home });
  for (const name of PORTO_ADDED) if (envValue(env, name) === undefined) vars.push({ name });
  return { var: vars };
}

/**
 * Finds argv[0] the way execvpe(3) and runc do: a name with a "/" is taken as
 * a path (relative to `cwd`); otherwise each PATH entry is tried in order (an
 * empty entry is the working directory). `exists` answers for a path inside
 * the container's root and should say whether it is an executable file.
 * Returns the path found, or undefined.
 */
export function resolveExecutable(
  argv0: string,
  pathEnv: string | undefined,
  exists: (path: string) => boolean,
  cwd = "/",
): string | undefined {
  if (argv0 === "") return undefined;
  if (argv0.includes("/")) {
    const p = posix.resolve(cwd, argv0);
    return exists(p) ? p : undefined;
  }
  for (const dir of (pathEnv ?? DEFAULT_PATH).split(":")) {
    const p = posix.resolve(cwd, dir || ".", argv0);
    if (exists(p)) return p;
  }
  return undefined;
}

/** CRI env values are bytes; Porto takes strings. Invalid UTF-8 becomes U+FFFD, the only lossy case. */
function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}
