/**
 * The daemon's log: pino JSON lines in LogsDir/portoshim.log, with secrets
 * removed before anything is written.
 *
 * Redaction rule (applies to every object passed to the logger, at any depth,
 * and to child-logger bindings; the input object is never modified):
 *
 * 1. Secret keys. A property whose name, ignoring case, "_" and "-", is one
 *    of auth, password, identity_token, registry_token, auth_token has its
 *    value replaced by {@link REDACTED}, whatever the value is: a whole CRI
 *    AuthConfig under PullImageRequest.auth goes, username included. Empty
 *    strings and null stay as they are, since they say "no credentials" and
 *    hide nothing. This covers CRI's AuthConfig (password, auth,
 *    identityToken, registryToken), Porto's TDockerImagePullRequest.authToken
 *    and the config's AuthToken.
 * 2. Environment lists. Under a property named env, envs or env_secret
 *    (CRI ContainerConfig.envs, Porto's TContainerSpec.env / envSecret and
 *    image config env), variable names stay and values go: `{key, value}` and
 *    `{name, value, hash}` items lose value and hash, "NAME=value" strings
 *    become "NAME=[REDACTED]", and a plain string (Porto's "A=1;B=2" form)
 *    is redacted whole.
 * 3. Porto properties. An object whose `property` or `variable` is env,
 *    env_secret or env[NAME] (SetProperty requests, get results) loses its
 *    `value`.
 *
 * Secrets inside strings are not found: never interpolate a request into a
 * message text, pass it as an object field instead.
 *
 * Two mechanisms enforce the rule. {@link redactRequest} walks the object
 * (pino's `formatters.log`), because pino's path redaction only reaches fixed
 * depths and cannot say "any depth". pino's own `redact` paths
 * ({@link REDACT_PATHS}) then cover the shallow, well-known places once more,
 * after serializers have run, which the walker does not see.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import type { Logger } from "pino";

/** Name of the log file inside LogsDir; logrotate's config names it too. */
export const LOG_FILE_NAME = "portoshim.log";

/** What a redacted value is replaced with in the log. */
export const REDACTED = "[REDACTED]";

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Directory for portoshim.log; created (with parents) if missing. */
  logsDir: string;
  /** Log at debug level instead of info (the --debug flag). */
  debug: boolean;
}

/** The logger and the handles main.ts needs for SIGHUP and shutdown. */
export interface PortoshimLog {
  logger: Logger;
  /** Absolute path of the log file. */
  file: string;
  /**
   * Reopens the file by name, after logrotate renamed it (SIGHUP). Never
   * throws, since it runs from a signal handler: on failure the old file
   * stays in use, the error is logged there and false is returned.
   */
  reopen(): boolean;
  /** Writes out what is pending and closes the file. Safe to call twice. */
  close(): Promise<void>;
}

/** Property names (normalised: lower case, no "_" or "-") whose values are secret. */
const SECRET_KEYS = new Set(["auth", "password", "identitytoken", "registrytoken", "authtoken"]);
/** Property names (normalised) that hold environment variables. */
const ENV_KEYS = new Set(["env", "envs", "envsecret"]);
/** Porto property names whose value is environment. */
const ENV_PROPERTY = /^env(_secret)?(\[|$)/;
/** Deeper than any real request; past it we drop the subtree rather than risk a leak. */
const MAX_DEPTH = 64;

/**
 * pino `redact` paths for the shallow places secrets are known to appear:
 * the secret keys at the top and two levels down, env values one and two
 * levels down. Spelled as they appear in protobuf-es objects (camelCase) and
 * in the YAML config (AuthToken), plus snake_case for proto-JSON-ish input.
 */
export const REDACT_PATHS: readonly string[] = (() => {
  const names = [
    "auth",
    "password",
    "identity_token",
    "identityToken",
    "registry_token",
    "registryToken",
    "auth_token",
    "authToken",
    "AuthToken",
  ];
  const paths = names.flatMap((n) => [n, `*.${n}`, `*.*.${n}`]);
  paths.push("envs[*].value", "*.envs[*].value", "*.*.envs[*].value");
  return paths;
})();

/**
 * Creates the daemon's logger on LogsDir/portoshim.log.
 *
 * Writes are synchronous: a line is on disk (in the page cache) before the
 * call returns, so nothing is lost when the process exits or crashes, open
 * errors surface here at startup rather than as a later 'error' event, and
 * reopen() needs no flushing dance. One write(2) per line is cheap next to
 * the Porto round trip behind each logged request.
 *
 * @throws when the directory cannot be created or the file cannot be opened.
 */
export function createLogger(options: CreateLoggerOptions): PortoshimLog {
  // 0750/0640: logs name containers and images, which other users need not see.
  mkdirSync(options.logsDir, { recursive: true, mode: 0o750 });
  const file = join(options.logsDir, LOG_FILE_NAME);
  // In sync mode the destination opens the file in its constructor, so a
  // permission problem throws from here.
  const dest = pino.destination({ dest: file, sync: true, append: true, mkdir: true, mode: 0o640 });
  let writeErrorReported = false;
  dest.on("error", (err: Error) => {
    // A full disk must not take the runtime down with it; say so once on stderr.
    if (writeErrorReported) return;
    writeErrorReported = true;
    process.stderr.write(`portoshim: cannot write ${file}: ${err.message}\n`);
  });

  const logger = pino(
    {
      level: options.debug ? "debug" : "info",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS], censor: secret },
      formatters: {
        log: (obj) => redactRequest(obj),
        bindings: (bindings) => redactRequest(bindings),
      },
    },
    dest,
  );

  let closed: Promise<void> | undefined;
  return {
    logger,
    file,
    reopen() {
      if (closed !== undefined) return false;
      try {
        dest.reopen();
        return true;
      } catch (err) {
        logger.error({ err, file }, "cannot reopen log file; still writing to the old one");
        return false;
      }
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        dest.once("close", () => resolve());
        dest.end();
      });
      return closed;
    },
  };
}

/**
 * Returns `msg` with secrets replaced by {@link REDACTED}, following the rule
 * at the top of this module. Copies only the parts it changes; the input is
 * never modified, so it is safe on a request a handler is still using.
 * Works on protobuf-es messages (including proto2 ones whose defaults live
 * on the prototype) and plain objects alike.
 */
export function redactRequest<T>(msg: T): T {
  return walk(msg, 0, new Set()) as T;
}

function walk(value: unknown, depth: number, ancestors: Set<object>): unknown {
  if (!isWalkable(value)) return value;
  if (ancestors.has(value)) return value; // a cycle: pino prints it as [Circular]
  if (depth >= MAX_DEPTH) return "[Truncated]";
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return mapArray(value, (v) => walk(v, depth + 1, ancestors));
    const obj = value as Record<string, unknown>;
    const envProperty = isEnvPropertyName(obj.property) || isEnvPropertyName(obj.variable);
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(obj)) {
      const v = obj[key];
      const name = normalise(key);
      let r: unknown;
      if (SECRET_KEYS.has(name)) r = secret(v);
      else if (ENV_KEYS.has(name)) r = redactEnv(v, depth + 1, ancestors);
      else if (envProperty && key === "value") r = secret(v);
      else r = walk(v, depth + 1, ancestors);
      if (r !== v) {
        out ??= { ...obj };
        out[key] = r;
      }
    }
    return out ?? obj;
  } finally {
    ancestors.delete(value);
  }
}

function redactEnv(value: unknown, depth: number, ancestors: Set<object>): unknown {
  if (typeof value === "string") return secret(value);
  if (Array.isArray(value)) {
    return mapArray(value, (item) => {
      if (typeof item === "string") {
        const eq = item.indexOf("=");
        return eq < 0 ? secret(item) : `${item.slice(0, eq)}=${REDACTED}`;
      }
      if (isWalkable(item) && !Array.isArray(item)) {
        // { key, value } (CRI) or { name, value, salt, hash } (Porto): a salted
        // hash of a secret can be brute-forced offline, so it goes too.
        const copy = walk(item, depth + 1, ancestors) as Record<string, unknown>;
        const hidden = ["value", "hash"].filter((k) => Object.hasOwn(copy, k) && secret(copy[k]) !== copy[k]);
        if (hidden.length === 0) return copy;
        const out = { ...copy };
        for (const k of hidden) out[k] = REDACTED;
        return out;
      }
      return walk(item, depth + 1, ancestors);
    });
  }
  if (isWalkable(value) && Array.isArray((value as { var?: unknown }).var)) {
    // Porto's TContainerEnv: { var: [{ name, value, ... }], merge }
    const env = value as { var: unknown[] };
    return { ...env, var: redactEnv(env.var, depth + 1, ancestors) };
  }
  return walk(value, depth, ancestors);
}

/** REDACTED for anything with content; empty values say "none given" and stay. */
function secret(value: unknown): unknown {
  return isEmpty(value) ? value : REDACTED;
}

function isEmpty(value: unknown): boolean {
  // Byte fields count too: this CRI proto declares KeyValue.value as bytes.
  return value === undefined || value === null || value === "" || (value instanceof Uint8Array && value.length === 0);
}

function mapArray(arr: unknown[], fn: (v: unknown) => unknown): unknown[] {
  let out: unknown[] | undefined;
  for (let i = 0; i < arr.length; i++) {
    const r = fn(arr[i]);
    if (r !== arr[i]) {
      out ??= arr.slice();
      out[i] = r;
    }
  }
  return out ?? arr;
}

function isEnvPropertyName(v: unknown): boolean {
  return typeof v === "string" && ENV_PROPERTY.test(v);
}

function normalise(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, "");
}

/**
 * Objects whose own fields JSON shows and we can copy. Errors go to pino's
 * err serializer untouched; binary, dates, collections and anything with its
 * own toJSON print themselves and have no secret-named fields to find.
 */
function isWalkable(value: unknown): value is object {
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) return true;
  if (value instanceof Error || value instanceof Date || value instanceof Map || value instanceof Set) return false;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof RegExp) return false;
  return typeof (value as { toJSON?: unknown }).toJSON !== "function";
}
