/**
 * portoshim's YAML configuration: schema, defaults and validation.
 *
 * The file is optional. Every key has a default, so a missing or empty file,
 * an empty section and a key with no value all mean "use the default"; that is
 * also why keys added later (Portoshim.StateDir) must come with a default, so
 * that files written for older releases keep loading.
 *
 * Validation is strict on purpose: a typo ("socket" for "Socket") or a value
 * of the wrong shape would otherwise be silently replaced by a default and the
 * daemon would start doing something the operator did not ask for. Every
 * refusal is a {@link ConfigError} naming the key path and, when known, the
 * line, so the message alone is enough to fix the file.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isAbsolute, normalize, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document } from "yaml";

/** Where the config is read from when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = "/etc/portoshim.yaml";

/** Shown by {@link redactConfig} in place of a secret. */
export const REDACTED_SECRET = "<redacted>";

/**
 * Largest timeout Node.js timers honour: setTimeout silently turns anything
 * above 2^31-1 ms (about 24.8 days) into 1 ms, which would make every Porto
 * call time out at once.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Unix socket paths longer than this do not fit in sockaddr_un.sun_path. */
const MAX_SOCKET_PATH_BYTES = 107;

/** The Portoshim section: the shim's own files and socket. */
export interface PortoshimConfig {
  /** The file the config was read from (or would have been: the default path when absent). */
  readonly configPath: string;
  /** Unix socket the CRI gRPC server listens on. */
  readonly socket: string;
  /** Directory holding portoshim.log. */
  readonly logsDir: string;
  /** Directory for container root volumes. */
  readonly volumesDir: string;
  /** Directory for the shim's own state that must survive restarts. */
  readonly stateDir: string;
}

/** The Porto section: how to reach portod. */
export interface PortoConfig {
  /** Runtime name reported to kubelet in Version. */
  readonly runtimeName: string;
  /** portod's unix socket. */
  readonly socket: string;
  /** Timeout for one request to portod, in milliseconds (whole, at least 1). */
  readonly socketTimeoutMs: number;
  /** Porto's docker image store (its `place`). */
  readonly imagesDir: string;
}

/** The CNI section: where plugins, their configs and netns files live. */
export interface CniConfig {
  readonly confDir: string;
  /** Directories searched for plugin executables, in order, joined with ":" as CNI_PATH is. */
  readonly binDir: string;
  readonly netnsDir: string;
  /** How long one plugin invocation (ADD, DEL, CHECK) may run before it is killed, in milliseconds. */
  readonly pluginTimeoutMs: number;
}

/** The StreamingServer section: exec/attach/port-forward endpoint. */
export interface StreamingServerConfig {
  /**
   * IP literal to listen on, without brackets ("::" for the YAML's "[::]"),
   * ready to pass to `net.Server#listen`.
   */
  readonly address: string;
  /** TCP port, 1-65535. */
  readonly port: number;
}

/** One entry of Images.Registries. */
export interface RegistryConfig {
  /** Registry host as written in image references, e.g. "registry-1.docker.io" or "localhost:5000". */
  readonly host: string;
  /** The token itself (already read from the file for `file:` values); absent when not configured. */
  readonly authToken?: string;
  /** The file AuthToken was read from, kept so the source can be shown without the secret. */
  readonly authTokenFile?: string;
  /** URL of the token service (http or https). */
  readonly authPath?: string;
  /** `service` parameter sent to the token service. */
  readonly authService?: string;
}

/** The Images section. */
export interface ImagesConfig {
  /** Image used for pod sandboxes. */
  readonly pauseImage: string;
  /** Per-registry credentials; empty by default. */
  readonly registries: readonly RegistryConfig[];
  /**
   * Deadline of one image pull by portod, in milliseconds. Separate from
   * Porto.SocketTimeout because a pull of a large image over a slow link
   * takes far longer than any ordinary request should.
   */
  readonly pullTimeoutMs: number;
}

/** The effective configuration: the file merged over the defaults, validated and frozen. */
export interface Config {
  readonly portoshim: PortoshimConfig;
  readonly porto: PortoConfig;
  readonly cni: CniConfig;
  readonly streamingServer: StreamingServerConfig;
  readonly images: ImagesConfig;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** File to read; {@link DEFAULT_CONFIG_PATH} when omitted. Relative paths resolve against the cwd. */
  path?: string;
  /**
   * True when the path came from `--config`: then a missing file is an error,
   * because the operator named it. When false, a missing file means "all defaults".
   */
  explicit: boolean;
}

/**
 * A config file the shim refuses. `keyPath` names the offending key the way
 * the file spells it ("Porto.SocketTimeout", "Images.Registries[1].Host"), or
 * is "" when the problem is the file as a whole (unreadable, not YAML).
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** Dotted key path, with [i] for list items; "" for whole-file problems. */
  readonly keyPath: string;
  /** What is wrong, without the location prefix. */
  readonly reason: string;
  /** The config file, when one was involved. */
  readonly file: string | undefined;
  /** 1-based line in `file`, when the problem can be pinned to one. */
  readonly line: number | undefined;

  constructor(keyPath: string, reason: string, file?: string, line?: number) {
    const where = file === undefined ? "config" : line === undefined ? file : `${file}:${line}`;
    super(keyPath === "" ? `${where}: ${reason}` : `${where}: ${keyPath}: ${reason}`);
    this.keyPath = keyPath;
    this.reason = reason;
    this.file = file;
    this.line = line;
  }
}

/** The configuration used when no file exists; a fresh frozen object each call. */
export function defaultConfig(configPath: string = DEFAULT_CONFIG_PATH): Config {
  return deepFreeze({
    portoshim: {
      configPath,
      socket: "/run/portoshim.sock",
      logsDir: "/var/log/portoshim",
      volumesDir: "/place/portoshim_volumes",
      stateDir: "/var/lib/portoshim",
    },
    porto: {
      runtimeName: "porto",
      socket: "/run/portod.socket",
      socketTimeoutMs: 5 * 60 * 1000,
      imagesDir: "/place/porto_docker",
    },
    cni: {
      confDir: "/etc/cni/net.d",
      binDir: "/opt/cni/bin",
      netnsDir: "/var/run/netns",
      pluginTimeoutMs: 2 * 60 * 1000,
    },
    streamingServer: { address: "::", port: 7255 },
    images: { pauseImage: "registry.k8s.io/pause:3.7", registries: [], pullTimeoutMs: 30 * 60 * 1000 },
  });
}

/**
 * Reads and validates the config file.
 *
 * A missing file is fine only when the path was not given explicitly; any
 * other read failure (permissions, a directory) is an error even for the
 * default path, since a file is there and silently ignoring it would surprise.
 *
 * @throws ConfigError for every refusal.
 */
export function loadConfig(options: LoadConfigOptions): Config {
  const file = resolve(options.path ?? DEFAULT_CONFIG_PATH);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !options.explicit) return defaultConfig(file);
    const why = code === "ENOENT" ? "file not found" : `cannot read: ${(err as Error).message}`;
    throw new ConfigError("", why, file);
  }
  return parseConfig(text, file);
}

/**
 * Validates config text as if read from `file` (used in messages, as
 * `portoshim.configPath`, and nowhere else). Exposed for tests and tools.
 *
 * @throws ConfigError for every refusal.
 */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const { line, col } = lineCounter.linePos(yamlError.pos[0]);
    throw new ConfigError("", `invalid YAML at line ${line}, column ${col}: ${yamlError.message}`, file, line);
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Unresolved or runaway aliases surface only here, not in doc.errors.
    throw new ConfigError("", `invalid YAML: ${(err as Error).message}`, file);
  }
  const v = new Validator(file, doc, lineCounter);
  return v.config(root);
}

/**
 * The effective config with secrets replaced by {@link REDACTED_SECRET}, for
 * showing to people (Status verbose). Registry AuthToken is the only secret;
 * `authTokenFile` stays, as it says where the token came from, not what it is.
 */
export function redactConfig(config: Config): Config {
  return deepFreeze({
    ...config,
    images: {
      ...config.images,
      registries: config.images.registries.map((r) =>
        r.authToken === undefined ? { ...r } : { ...r, authToken: REDACTED_SECRET },
      ),
    },
  });
}

/** Milliseconds per Go duration unit. */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // micro sign, as Go accepts
  "\u03bcs": 1e-3, // Greek mu, likewise
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
// Longer units first so "ms" is not read as "m" followed by garbage.
const SEGMENT = /(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/**
 * Parses a Go `time.ParseDuration` string ("5m", "1h30m", "1.5h", "300ms",
 * "2h45m10s") into milliseconds, rounded to the nanosecond so "1.1s" is 1100.
 * Accepts what Go accepts, including a sign and the bare "0"; callers decide
 * which range is meaningful. Bare numbers other than 0 are refused, as in Go.
 *
 * @throws RangeError with a message suitable for a ConfigError reason.
 */
export function parseDuration(text: string): number {
  let body = text;
  let sign = 1;
  if (body.startsWith("-") || body.startsWith("+")) {
    sign = body.startsWith("-") ? -1 : 1;
    body = body.slice(1);
  }
  if (body === "0") return 0;
  if (body === "") throw new RangeError(`invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  let pos = 0;
  while (pos < body.length) {
    SEGMENT.lastIndex = pos;
    const m = SEGMENT.exec(body);
    if (m === null) {
      throw new RangeError(
        `invalid duration ${JSON.stringify(text)}: expected a number followed by a unit (h, m, s, ms, us, ns), e.g. "5m" or "1h30m"`,
      );
    }
    total += Number.parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    pos = SEGMENT.lastIndex;
  }
  return (sign * Math.round(total * 1e6)) / 1e6;
}

type Segment = string | number;

/** The keys each section allows; the order is the one used in docs and the example file. */
const SECTIONS: Readonly<Record<string, readonly string[]>> = {
  Portoshim: ["ConfigPath", "Socket", "LogsDir", "VolumesDir", "StateDir"],
  Porto: ["RuntimeName", "Socket", "SocketTimeout", "ImagesDir"],
  CNI: ["ConfDir", "BinDir", "NetnsDir", "PluginTimeout"],
  StreamingServer: ["Address", "Port"],
  Images: ["PauseImage", "Registries", "PullTimeout"],
};
const REGISTRY_KEYS: readonly string[] = ["Host", "AuthToken", "AuthPath", "AuthService"];

type Fields = Record<string, unknown>;

/** Walks the parsed document, turning each problem into a located ConfigError. */
class Validator {
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  config(root: unknown): Config {
    if (root !== null && root !== undefined && !isPlainObject(root)) {
      this.fail([], "expected a mapping of sections (Portoshim, Porto, CNI, StreamingServer, Images) at the top level");
    }
    const top = (root ?? {}) as Fields;
    this.checkKeys(top, [], Object.keys(SECTIONS));
    const d = defaultConfig(this.file);
    const s = (name: string) => this.section(top, name);

    const ps = s("Portoshim");
    // ConfigPath is accepted so a file listing every key loads, but it cannot
    // redirect loading from inside the file: only --config chooses the file.
    this.path(ps, ["Portoshim", "ConfigPath"], d.portoshim.configPath);
    const portoshim: PortoshimConfig = {
      configPath: this.file,
      socket: this.socket(ps, ["Portoshim", "Socket"], d.portoshim.socket),
      logsDir: this.path(ps, ["Portoshim", "LogsDir"], d.portoshim.logsDir),
      volumesDir: this.path(ps, ["Portoshim", "VolumesDir"], d.portoshim.volumesDir),
      stateDir: this.path(ps, ["Portoshim", "StateDir"], d.portoshim.stateDir),
    };

    const po = s("Porto");
    const porto: PortoConfig = {
      runtimeName: this.word(po, ["Porto", "RuntimeName"], d.porto.runtimeName),
      socket: this.socket(po, ["Porto", "Socket"], d.porto.socket),
      socketTimeoutMs: this.timeout(po, ["Porto", "SocketTimeout"], d.porto.socketTimeoutMs),
      imagesDir: this.path(po, ["Porto", "ImagesDir"], d.porto.imagesDir),
    };

    const cn = s("CNI");
    const cni: CniConfig = {
      confDir: this.path(cn, ["CNI", "ConfDir"], d.cni.confDir),
      binDir: this.pathList(cn, ["CNI", "BinDir"], d.cni.binDir),
      netnsDir: this.path(cn, ["CNI", "NetnsDir"], d.cni.netnsDir),
      pluginTimeoutMs: this.timeout(cn, ["CNI", "PluginTimeout"], d.cni.pluginTimeoutMs),
    };

    const ss = s("StreamingServer");
    const streamingServer: StreamingServerConfig = {
      address: this.address(ss, ["StreamingServer", "Address"], d.streamingServer.address),
      port: this.port(ss, ["StreamingServer", "Port"], d.streamingServer.port),
    };

    const im = s("Images");
    const images: ImagesConfig = {
      pauseImage: this.word(im, ["Images", "PauseImage"], d.images.pauseImage),
      registries: this.registries(im, ["Images", "Registries"]),
      pullTimeoutMs: this.timeout(im, ["Images", "PullTimeout"], d.images.pullTimeoutMs),
    };

    return deepFreeze({ portoshim, porto, cni, streamingServer, images });
  }

  /** A section's fields; null or absent sections are empty. */
  private section(top: Fields, name: string): Fields {
    const value = top[name];
    if (value === null || value === undefined) return {};
    if (!isPlainObject(value)) this.fail([name], `expected a mapping, got ${describe(value)}`);
    this.checkKeys(value, [name], SECTIONS[name]!);
    return value;
  }

  private checkKeys(fields: Fields, at: Segment[], allowed: readonly string[]): void {
    for (const key of Object.keys(fields)) {
      if (allowed.includes(key)) continue;
      this.fail([...at, key], `unknown key${hint(key, at, allowed)}`, true);
    }
  }

  /** A string value, or undefined when absent or null (meaning: default). */
  private string(fields: Fields, at: Segment[]): string | undefined {
    const value = fields[at[at.length - 1]!];
    if (value === null || value === undefined) return undefined;
    if (typeof value !== "string") this.fail(at, `expected a string, got ${describe(value)}`);
    return value;
  }

  /** Absolute path, normalised ("/a/b/" and "/a//b" become "/a/b"). */
  private path(fields: Fields, at: Segment[], fallback: string): string {
    const value = this.string(fields, at);
    if (value === undefined) return fallback;
    return this.absolute(value, at);
  }

  /**
   * Absolute paths separated by ":", each normalised, as CNI_PATH lists them;
   * a single path is the common case.
   */
  private pathList(fields: Fields, at: Segment[], fallback: string): string {
    const value = this.string(fields, at);
    if (value === undefined) return fallback;
    return value
      .split(":")
      .map((p) => this.absolute(p, at))
      .join(":");
  }

  private absolute(value: string, at: Segment[]): string {
    if (value === "") this.fail(at, "expected an absolute path, got an empty string");
    // Relative paths would depend on the daemon's cwd, which systemd sets to /
    // and a shell to wherever the operator stood: refuse rather than guess.
    if (!isAbsolute(value)) this.fail(at, `expected an absolute path, got ${JSON.stringify(value)}`);
    const n = normalize(value);
    return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
  }

  private socket(fields: Fields, at: Segment[], fallback: string): string {
    const p = this.path(fields, at, fallback);
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES) {
      this.fail(at, `unix socket path is ${Buffer.byteLength(p)} bytes, longer than the ${MAX_SOCKET_PATH_BYTES} the kernel accepts`);
    }
    return p;
  }

  /** A non-empty string without whitespace (runtime name, image reference). */
  private word(fields: Fields, at: Segment[], fallback: string): string {
    const value = this.string(fields, at);
    if (value === undefined) return fallback;
    if (value === "" || /\s/.test(value)) this.fail(at, `expected a non-empty value without spaces, got ${JSON.stringify(value)}`);
    return value;
  }

  private timeout(fields: Fields, at: Segment[], fallback: number): number {
    const value = fields[at[at.length - 1]!];
    if (value === null || value === undefined) return fallback;
    if (typeof value === "number") {
      // Go's yaml would read a bare 300 as 300 nanoseconds; nobody means that,
      // and guessing seconds instead would differ from the Go shim. Refuse.
      this.fail(at, `a bare number has no unit; write a duration such as "${value}s" or "5m"`);
    }
    if (typeof value !== "string") this.fail(at, `expected a duration such as "5m", got ${describe(value)}`);
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      return this.fail(at, (err as Error).message);
    }
    if (ms < 1) this.fail(at, `must be at least 1ms, got ${JSON.stringify(value)}`);
    // Round up so a sub-millisecond remainder never shortens the timeout.
    const whole = Math.ceil(ms);
    if (whole > MAX_TIMEOUT_MS) this.fail(at, `must be at most ${MAX_TIMEOUT_MS}ms (about 24.8 days), got ${JSON.stringify(value)}`);
    return whole;
  }

  private port(fields: Fields, at: Segment[], fallback: number): number {
    const value = fields[at[at.length - 1]!];
    if (value === null || value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value)) this.fail(at, `expected an integer port, got ${describe(value)}`);
    if (value < 1 || value > 65535) this.fail(at, `port must be between 1 and 65535, got ${value}`);
    return value;
  }

  /** An IP literal; IPv6 may be bracketed ("[::]") as in the Go shim's host:port joining. */
  private address(fields: Fields, at: Segment[], fallback: string): string {
    if (Array.isArray(fields[at[at.length - 1]!])) {
      // Unquoted, [::] is YAML for a one-element list, an easy slip to make.
      this.fail(at, 'got a list; quote a bracketed address, as in Address: "[::]"');
    }
    const value = this.string(fields, at);
    if (value === undefined) return fallback;
    const bracketed = value.startsWith("[") && value.endsWith("]");
    const bare = bracketed ? value.slice(1, -1) : value;
    const family = isIP(bare);
    if (family === 0 || (bracketed && family !== 6)) {
      this.fail(at, `expected an IP address such as "[::]", "::" or "0.0.0.0" (not a host name), got ${JSON.stringify(value)}`);
    }
    return bare;
  }

  private registries(fields: Fields, at: Segment[]): RegistryConfig[] {
    const value = fields[at[at.length - 1]!];
    if (value === null || value === undefined) return [];
    if (!Array.isArray(value)) this.fail(at, `expected a list of registries, got ${describe(value)}`);
    const seen = new Map<string, number>();
    return value.map((item: unknown, i) => {
      const here = [...at, i];
      if (!isPlainObject(item)) this.fail(here, `expected a mapping with Host, AuthToken, AuthPath, AuthService; got ${describe(item)}`);
      this.checkKeys(item, here, REGISTRY_KEYS);
      const reg = this.registry(item, here);
      const first = seen.get(reg.host);
      if (first !== undefined) {
        this.fail([...here, "Host"], `duplicate registry ${JSON.stringify(reg.host)}, already listed as ${keyPathOf([...at, first])}`);
      }
      seen.set(reg.host, i);
      return reg;
    });
  }

  private registry(item: Fields, at: Segment[]): RegistryConfig {
    const hostAt = [...at, "Host"];
    const host = this.string(item, hostAt);
    if (host === undefined || host === "") this.fail(hostAt, "a registry needs a non-empty Host");
    // Host is matched against the registry part of image references, which
    // never carries a scheme or a path; such a Host could never match.
    if (/\s/.test(host) || host.includes("/")) {
      this.fail(hostAt, `expected a bare host[:port] such as "registry-1.docker.io", got ${JSON.stringify(host)}`);
    }
    const reg: { -readonly [K in keyof RegistryConfig]: RegistryConfig[K] } = { host };

    const tokenAt = [...at, "AuthToken"];
    const token = this.optional(item, tokenAt, "a token string or file:/path");
    if (token !== undefined && token.startsWith("file:")) {
      const tokenFile = this.absolute(token.slice("file:".length), tokenAt);
      reg.authToken = this.readToken(tokenFile, tokenAt);
      reg.authTokenFile = tokenFile;
    } else if (token !== undefined) {
      reg.authToken = token;
    }

    const authPathAt = [...at, "AuthPath"];
    const authPath = this.optional(item, authPathAt, "an http(s) URL");
    if (authPath !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(authPath);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")) {
        this.fail(authPathAt, `expected an http(s) URL such as "https://auth.docker.io/token", got ${JSON.stringify(authPath)}`);
      }
      reg.authPath = authPath;
    }

    const service = this.optional(item, [...at, "AuthService"], "a service name");
    if (service !== undefined) reg.authService = service;
    return reg;
  }

  /**
   * An optional registry string; "" counts as unset, as it did in the Go shim.
   * The value is never echoed, since AuthToken goes through here.
   */
  private optional(fields: Fields, at: Segment[], what: string): string | undefined {
    const value = fields[at[at.length - 1]!];
    if (value === null || value === undefined) return undefined;
    if (typeof value !== "string") this.fail(at, `expected ${what}, got ${kindOf(value)}`);
    return value === "" ? undefined : value;
  }

  private readToken(file: string, at: Segment[]): string {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      return this.fail(at, `cannot read token file ${file} (${code})`);
    }
    // Files written by editors or `echo` end with a newline that is not part of the token.
    const token = text.replace(/[\r\n]+$/, "");
    if (token === "") this.fail(at, `token file ${file} is empty`);
    return token;
  }

  /** Throws a ConfigError at `at`, locating the value (or the key, for unknown keys) in the source. */
  private fail(at: Segment[], reason: string, pointAtKey = false): never {
    throw new ConfigError(keyPathOf(at), reason, this.file, this.lineOf(at, pointAtKey));
  }

  private lineOf(at: Segment[], pointAtKey: boolean): number | undefined {
    // Descend as far as the source goes; a missing key (Host left out) is
    // reported at the nearest enclosing node, which is where it should be added.
    let node: unknown = this.doc.contents;
    let keyNode: unknown;
    let nearest = lineAt(node, this.lines);
    for (const seg of at) {
      keyNode = undefined;
      if (typeof seg === "number" && isSeq(node)) {
        node = node.items[seg];
      } else if (typeof seg === "string" && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
        if (pair === undefined) return nearest;
        keyNode = pair.key;
        node = pair.value;
      } else {
        return nearest;
      }
      nearest = lineAt(pointAtKey || node === null || node === undefined ? keyNode : node, this.lines) ?? nearest;
    }
    return nearest;
  }
}

function lineAt(node: unknown, lines: LineCounter): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range === undefined ? undefined : lines.linePos(range[0]).line;
}

/** "Images.Registries[1].Host" from ["Images", "Registries", 1, "Host"]. */
function keyPathOf(at: Segment[]): string {
  let out = "";
  for (const seg of at) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out;
}

/** Suggests the likely intended key: a case slip, or a key from another section. */
function hint(key: string, at: Segment[], allowed: readonly string[]): string {
  const sameLetters = allowed.find((k) => k.toLowerCase() === key.toLowerCase());
  if (sameLetters !== undefined) return ` (did you mean ${sameLetters}?)`;
  if (at.length <= 1) {
    const home = Object.entries(SECTIONS).find(([name, keys]) => name !== at[0] && keys.includes(key));
    if (home !== undefined) return ` (${key} belongs in the ${home[0]} section)`;
  }
  return ` (allowed: ${allowed.join(", ")})`;
}

function isPlainObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The kind of a value without its content, for keys that may hold secrets. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
