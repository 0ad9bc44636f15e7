/**
 * The container property table (src/property.cpp): each property's text
 * format, validation, when it may be read or written, and how it maps to
 * TContainerSpec / TContainerStatus. Properties the double does not model
 * do not exist here, so asking for them fails with InvalidProperty exactly
 * like an unknown name would; see README.md for what is left out.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { create, isFieldSet } from "@bufbuild/protobuf";
import {
  EError,
  TCapabilitiesSchema,
  TContainerBindMountSchema,
  TContainerBindMountsSchema,
  TContainerCommandArgvSchema,
  TContainerEnvSchema,
  TContainerEnvVarSchema,
  TContainerNetConfigSchema,
  TContainerNetOptionSchema,
  TContainerSpecSchema,
  TContainerUlimitSchema,
  TContainerUlimitsSchema,
  TErrorSchema,
  TStringMapSchema,
  TStringMap_TStringMapEntrySchema,
  type TContainerSpec,
  type TContainerStatus,
} from "../../gen/rpc_pb.js";
import { TContainerCpuSetSchema, TContainerDeviceSchema, TContainerDevicesSchema, TCredSchema } from "../../gen/rpc_pb.js";
import { EAction, ECompare, TProfileSchema, type TAction, type TProfile } from "../../gen/seccomp_pb.js";
import type { Container } from "./container.js";
import { errorToString, type Daemon } from "./daemon.js";
import { Env } from "./env.js";
import { fail } from "./errors.js";
import { isLabelName, LABEL_COUNT_MAX, validLabel } from "./names.js";
import { hostId, knownId } from "./process.js";
import { anonUsage, memoryStatText, memoryUsage, minorFaults, usageOf } from "./usage.js";
import {
  formatBool,
  formatCpuPower,
  formatTime,
  mergeEscaped,
  mergeEscaped2,
  parseBool,
  parseCpuPower,
  parseInt32,
  parseInt64,
  parseSize,
  parseUint64,
  splitEscaped,
  splitEscaped2,
  stringMapToString,
  stringToStringMap,
  trim,
} from "./text.js";
import { availableParallelism } from "node:os";

type SpecField = keyof typeof TContainerSpecSchema.field;

export interface Prop {
  name: string;
  desc: string;
  readOnly?: boolean;
  dynamic?: boolean;
  anyState?: boolean;
  runtimeOnly?: boolean;
  deadOnly?: boolean;
  /** Needs kernel features a stock kernel lacks: portod answers NotSupported (seen on 5.3.59 here). */
  unsupported?: boolean;
  get(ct: Container, d: Daemon): string;
  set?(ct: Container, value: string, d: Daemon): void;
  getIndexed?(ct: Container, index: string, d: Daemon): string;
  setIndexed?(ct: Container, index: string, value: string, d: Daemon): void;
  /** The TContainerSpec field this property loads from and dumps to. */
  specField?: SpecField;
  load?(ct: Container, spec: TContainerSpec, d: Daemon): void;
  dumpSpec?(ct: Container, spec: TContainerSpec, d: Daemon): void;
  dumpStatus?(ct: Container, status: TContainerStatus, d: Daemon): void;
}

const CONTAINER_COMMAND_MAX = 128 * 1024;
const PRIVATE_VALUE_MAX = 4096;
const MIN_MEMORY_LIMIT = 1n << 20n;

export const PROPERTIES = new Map<string, Prop>();

function def(p: Prop): void {
  PROPERTIES.set(p.name, p);
}

/** A property kept as normalised text with a default; `parse` validates and normalises. */
function textProp(
  name: string,
  dflt: string,
  opts: Partial<Prop> & { parse?: (v: string) => string; load?: Prop["load"]; dumpSpec?: Prop["dumpSpec"] } = {},
): void {
  def({
    desc: name,
    ...opts,
    name,
    get: (ct) => ct.text.get(name) ?? dflt,
    set: (ct, v) => {
      ct.text.set(name, opts.parse ? opts.parse(v) : v);
      ct.setProps.add(name);
    },
  });
}

function boolText(v: string): string {
  return formatBool(parseBool(v));
}

// ---- identity and state (read-only) ----

def({ name: "state", desc: "container state", readOnly: true, get: (ct) => ct.state, dumpStatus: (ct, s) => void (s.state = ct.state) });
def({ name: "id", desc: "Container id", readOnly: true, get: (ct) => String(ct.id), dumpStatus: (ct, s) => void (s.id = BigInt(ct.id)) });
def({ name: "level", desc: "Container level", readOnly: true, get: (ct) => String(ct.level), dumpStatus: (ct, s) => void (s.level = ct.level) });
def({
  name: "absolute_name",
  desc: "Container name including porto namespaces",
  readOnly: true,
  get: (ct) => (ct.isRoot ? "/" : "/porto/" + ct.name),
  dumpStatus: (ct, s) => void (s.absoluteName = ct.isRoot ? "/" : "/porto/" + ct.name),
});
def({
  name: "absolute_namespace",
  desc: "Container namespace including parent namespaces",
  readOnly: true,
  get: () => "/porto/",
  dumpStatus: (_ct, s) => void (s.absoluteNamespace = "/porto/"),
});
def({
  name: "parent",
  desc: "Parent container absolute name",
  readOnly: true,
  get: (ct) => (ct.level === 0 ? "" : ct.level === 1 ? "/" : "/porto/" + ct.parent?.name),
  dumpStatus: (ct, s) => {
    if (ct.level === 1) s.parent = "/";
    else if (ct.level > 1) s.parent = "/porto/" + ct.parent?.name;
  },
});
def({
  name: "root_pid",
  desc: "Main task pid",
  readOnly: true,
  runtimeOnly: true,
  get: (ct) => {
    if (ct.isRoot) return "1";
    if (!ct.pid) throw fail(EError.InvalidState, "container isn't running");
    return String(ct.pid);
  },
  dumpStatus: (ct, s) => {
    if (ct.pid) s.rootPid = ct.pid;
  },
});
def({
  name: "exit_status",
  desc: "Main task exit status",
  readOnly: true,
  deadOnly: true,
  get: (ct) => String(ct.exitStatus),
  dumpStatus: (ct, s) => void (s.exitStatus = ct.exitStatus),
});
def({
  name: "exit_code",
  desc: "Main task exit code, negative: exit signal, OOM: -99",
  readOnly: true,
  deadOnly: true,
  get: (ct) => String(ct.exitCode),
  dumpStatus: (ct, s) => void (s.exitCode = ct.exitCode),
});
def({
  name: "oom_killed",
  desc: "Container has been killed by OOM",
  readOnly: true,
  deadOnly: true,
  get: (ct) => formatBool(ct.oomKilled),
  dumpStatus: (ct, s) => void (s.oomKilled = ct.oomKilled),
});
def({
  name: "oom_kills",
  desc: "Count of tasks killed in container since start",
  readOnly: true,
  get: (ct) => String(ct.oomKills),
  dumpStatus: (ct, s) => void (s.oomKills = BigInt(ct.oomKills)),
});
def({
  name: "core_dumped",
  desc: "Main task dumped core at exit",
  readOnly: true,
  deadOnly: true,
  get: (ct) => formatBool((ct.exitStatus & 0x80) !== 0 && (ct.exitStatus & 0x7f) !== 0),
  dumpStatus: (ct, s) => void (s.coreDumped = (ct.exitStatus & 0x80) !== 0 && (ct.exitStatus & 0x7f) !== 0),
});
def({
  name: "start_error",
  desc: "Last start error",
  readOnly: true,
  get: (ct) => (ct.startError ? errorToString(ct.startError) : ""),
  dumpStatus: (ct, s) => {
    if (ct.startError) s.startError = create(TErrorSchema, { error: ct.startError.code, msg: ct.startError.message });
  },
});

/** creation_time / start_time / death_time / change_time: `%F %T` local time, `[raw]` epoch seconds. */
function timeProp(name: string, desc: string, pick: (ct: Container) => number, extra: Partial<Prop> = {}): void {
  def({
    name,
    desc,
    readOnly: true,
    ...extra,
    get: (ct) => (pick(ct) || name === "creation_time" || name === "change_time" ? formatTime(pick(ct)) : ""),
    getIndexed: (ct, idx) => {
      if (idx !== "raw") throw fail(EError.InvalidValue, `What ${idx}?`);
      return String(pick(ct));
    },
  });
}
timeProp("creation_time", "Creation time", (ct) => ct.creationTime);
timeProp("start_time", "Start time", (ct) => ct.realStartTime);
timeProp("death_time", "Death time", (ct) => ct.realDeathTime, { deadOnly: true });
timeProp("change_time", "Change time", (ct) => ct.changeTime);
PROPERTIES.get("creation_time")!.dumpStatus = (ct, s) => void (s.creationTime = BigInt(ct.creationTime));
PROPERTIES.get("start_time")!.dumpStatus = (ct, s) => {
  if (ct.realStartTime) s.startTime = BigInt(ct.realStartTime);
};
PROPERTIES.get("death_time")!.dumpStatus = (ct, s) => void (s.deathTime = BigInt(ct.realDeathTime));
PROPERTIES.get("change_time")!.dumpStatus = (ct, s) => void (s.changeTime = BigInt(ct.changeTime));

def({
  name: "time",
  desc: "Running time [seconds]",
  readOnly: true,
  get: (ct) => String(runningSeconds(ct)),
  getIndexed: (ct, idx) => {
    if (idx !== "dead") throw fail(EError.InvalidValue, `What ${idx}?`);
    if (ct.state !== "dead") throw fail(EError.InvalidState, "Not dead yet");
    return String(Math.floor((Date.now() - ct.deathTimeMs) / 1000));
  },
  dumpStatus: (ct, s) => {
    s.time = BigInt(runningSeconds(ct));
    if (ct.state === "dead") s.deadTime = BigInt(Math.floor((Date.now() - ct.deathTimeMs) / 1000));
  },
});

function runningSeconds(ct: Container): number {
  if (ct.isRoot) return Math.floor(process.uptime());
  if (ct.state === "stopped") return 0;
  if (ct.state === "dead") return Math.floor((ct.deathTimeMs - ct.startTimeMs) / 1000);
  return Math.floor((Date.now() - ct.startTimeMs) / 1000);
}

def({
  name: "owner_user",
  desc: "Container owner user",
  get: () => "root",
  set: (_ct, v) => {
    if (!knownId("user", v)) throw fail(EError.InvalidValue, "Cannot find user: " + v);
  },
});
def({
  name: "owner_group",
  desc: "Container owner group",
  get: () => "root",
  set: (_ct, v) => {
    if (!knownId("group", v)) throw fail(EError.InvalidValue, "Cannot find group: " + v);
  },
});

// ---- runtime statistics: the double has no cgroups; figures are what tests set (usage.ts), zero otherwise ----

for (const [name, field, figure] of [
  ["memory_usage", "memoryUsage", memoryUsage],
  ["anon_usage", "anonUsage", anonUsage],
  ["cache_usage", "cacheUsage", (ct: Container) => usageOf(ct).cacheBytes],
  ["cpu_usage", "cpuUsage", (ct: Container) => usageOf(ct).cpuUsageNs],
  ["cpu_usage_system", "cpuUsageSystem", (ct: Container) => usageOf(ct).cpuSystemNs],
  ["minor_faults", "minorFaults", minorFaults],
  ["major_faults", "majorFaults", (ct: Container) => usageOf(ct).pgmajfault],
] as const) {
  def({
    name,
    desc: name,
    readOnly: true,
    runtimeOnly: true,
    get: (ct) => String(figure(ct)),
    dumpStatus: (ct, s) => void (s[field] = figure(ct)),
  });
}
const taskCount = (ct: Container, override: bigint | undefined) => override ?? BigInt(ct.pid ? 1 : 0);
def({
  name: "process_count",
  desc: "Process count",
  readOnly: true,
  runtimeOnly: true,
  get: (ct) => String(taskCount(ct, usageOf(ct).processCount)),
  dumpStatus: (ct, s) => void (s.processCount = taskCount(ct, usageOf(ct).processCount)),
});
def({
  name: "thread_count",
  desc: "Thread count",
  readOnly: true,
  runtimeOnly: true,
  get: (ct) => String(taskCount(ct, usageOf(ct).threadCount)),
  dumpStatus: (ct, s) => void (s.threadCount = taskCount(ct, usageOf(ct).threadCount)),
});

/** Cgroup files portod passes through by name (`memory.stat`), readable once the container has cgroups. */
const CGROUP_KNOBS = new Map<string, (ct: Container) => string>([["memory.stat", memoryStatText]]);

/** `stdout` / `stderr`: read the stored stream, `[offset][:length]`, offsets counted from the start (TStdStream::Read). */
function streamProp(name: "stdout" | "stderr"): void {
  const read = (ct: Container, d: Daemon, range: string) => {
    const s = ct[name];
    const path = d.streamPath(ct, s.path, s.outside);
    // A redirect into a client's descriptor is not stored anywhere (ResolveOutside gives no path).
    if (path === "/dev/null" || s.path.startsWith("/dev/fd/")) throw fail(EError.InvalidData, "Data not available");
    if (!existsSync(path)) throw fail(EError.InvalidData, "File not found");
    const st = statSync(path);
    if (!st.isFile()) throw fail(EError.InvalidData, "File is non-regular");
    let off = "";
    let lim = "";
    if (range) {
      const sep = range.indexOf(":");
      if (sep >= 0) {
        off = range.slice(0, sep);
        lim = range.slice(sep + 1);
      } else off = range;
    }
    let offset = off ? Number(parseUint64(off)) : 0;
    if (off) {
      const dropped = ct.streamOffset[name];
      if (offset < dropped) throw fail(EError.InvalidData, `Requested offset lower than current ${dropped}`);
      offset -= dropped;
    }
    const limit = lim ? Number(parseUint64(lim)) : Number(ct.text.has("stdout_limit") ? parseSize(ct.text.get("stdout_limit")!) : 8388608n);
    const size = st.size;
    let start = lim ? offset : Math.max(offset, size - limit);
    if (!off && lim) start = Math.max(0, size - limit);
    const len = Math.max(0, Math.min(limit, size - start));
    const buf = Buffer.alloc(len);
    const fd = openSync(path, "r");
    try {
      readSync(fd, buf, 0, len, start);
    } finally {
      closeSync(fd);
    }
    return buf.toString("utf8");
  };
  def({
    name,
    desc: `Read ${name} [[offset][:length]]`,
    readOnly: true,
    runtimeOnly: true,
    get: (ct, d) => read(ct, d, ""),
    getIndexed: (ct, idx, d) => read(ct, d, idx),
  });
  def({
    name: `${name}_offset`,
    desc: `Offset of stored ${name}`,
    readOnly: true,
    runtimeOnly: true,
    get: (ct) => String(ct.streamOffset[name]),
    dumpStatus: (ct, s) => void (s[name === "stdout" ? "stdoutOffset" : "stderrOffset"] = BigInt(ct.streamOffset[name])),
  });
}
streamProp("stdout");
streamProp("stderr");

// ---- command and environment ----

def({
  name: "command",
  desc: "Command executed upon container start",
  specField: "command",
  get: (ct) => ct.command,
  set: (ct, v) => {
    if (Buffer.byteLength(v) > CONTAINER_COMMAND_MAX)
      throw fail(EError.InvalidValue, `Command too long, max ${CONTAINER_COMMAND_MAX}`);
    ct.command = v;
    ct.hasArgv = false;
    ct.commandArgv = [];
    ct.setProps.add("command");
  },
  load: (ct, spec, d) => PROPERTIES.get("command")!.set!(ct, spec.command, d),
  dumpSpec: (ct, spec) => void (spec.command = ct.command),
});

/** TCommandArgv::SetCommand: the `command` text portod derives from argv (note the trailing space). */
function commandFromArgv(ct: Container): void {
  ct.command = ct.commandArgv.map((a) => "'" + a.replaceAll("'", "'\\''") + "' ").join("");
}

def({
  name: "command_argv",
  desc: "Verbatim command line, format: argv0\\targv1\\t...",
  specField: "commandArgv",
  get: (ct) => mergeEscaped(ct.commandArgv, "\t"),
  set: (ct, v) => {
    if (Buffer.byteLength(v) > CONTAINER_COMMAND_MAX)
      throw fail(EError.InvalidValue, `Command too long, max ${CONTAINER_COMMAND_MAX}`);
    ct.commandArgv = splitEscaped(v, "\t");
    ct.hasArgv = ct.commandArgv.length > 0;
    commandFromArgv(ct);
  },
  getIndexed: (ct, idx) => {
    const i = Number(idx);
    if (!/^\d+$/.test(idx) || i >= ct.commandArgv.length) throw fail(EError.InvalidProperty, "Invalid index");
    return ct.commandArgv[i];
  },
  setIndexed: (ct, idx, v) => {
    if (!/^\d+$/.test(idx)) throw fail(EError.InvalidProperty, "Invalid index");
    const i = Number(idx);
    while (ct.commandArgv.length <= i) ct.commandArgv.push("");
    ct.commandArgv[i] = v;
    ct.hasArgv = true;
    commandFromArgv(ct);
  },
  load: (ct, spec) => {
    const argv = spec.commandArgv?.argv ?? [];
    if (argv.reduce((n, a) => n + Buffer.byteLength(a), 0) > CONTAINER_COMMAND_MAX)
      throw fail(EError.InvalidValue, `Command too long, max ${CONTAINER_COMMAND_MAX}`);
    ct.commandArgv = [...argv];
    ct.hasArgv = argv.length > 0;
    commandFromArgv(ct);
  },
  dumpSpec: (ct, spec) => {
    if (ct.commandArgv.length) spec.commandArgv = create(TContainerCommandArgvSchema, { argv: [...ct.commandArgv] });
  },
});

def({
  name: "env",
  desc: "Container environment variables: <name>=<value>; ...",
  specField: "env",
  get: (ct) => ct.envCfg,
  set: (ct, v) => {
    const env = new Env();
    env.parse(v, true);
    ct.envCfg = env.format();
    ct.setProps.add("env");
  },
  getIndexed: (ct, idx, d) => {
    const v = d.environment(ct).get(idx);
    if (v === undefined) throw fail(EError.InvalidValue, `Environment variable ${idx} not defined`);
    return v;
  },
  setIndexed: (ct, idx, v) => {
    const env = new Env();
    env.parse(ct.envCfg, true);
    env.setEnv(idx, v);
    ct.envCfg = env.format();
  },
  load: (ct, spec) => {
    const env = new Env();
    if (spec.env?.merge) env.parse(ct.envCfg, true);
    for (const v of spec.env?.var ?? []) {
      if (isFieldSet(v, TContainerEnvVarSchema.field.value)) env.setEnv(v.name, v.value);
      else env.unsetEnv(v.name);
    }
    ct.envCfg = env.format();
  },
  dumpSpec: (ct, spec, d) => {
    const e = create(TContainerEnvSchema);
    for (const v of d.environment(ct).vars) {
      if (!v.overwritten) continue;
      const out = create(TContainerEnvVarSchema, { name: v.name });
      if (v.set) out.value = v.value;
      else out.unset = true;
      e.var.push(out);
    }
    spec.env = e;
  },
});

// ---- labels and private ----

/** TLabels::Set(map, merge): validates all, checks the count, then applies (empty value deletes). */
export function setLabels(ct: Container, map: Map<string, string>, merge: boolean, d: Daemon): void {
  for (const [k, v] of map) validLabel(k, v);
  let count = ct.labels.size;
  for (const [k, v] of map) {
    if (!ct.labels.has(k)) {
      if (v.length) count++;
    } else if (!v.length) count--;
  }
  if (count > LABEL_COUNT_MAX) throw fail(EError.ResourceNotAvailable, "Too many labels");
  if (!merge) for (const k of ct.labels.keys()) if (!map.has(k)) map.set(k, "");
  for (const [k, v] of map) setLabel(ct, k, v);
  for (const [k, v] of map) d.waiters.reportAll(ct, k, v);
}

export function setLabel(ct: Container, label: string, value: string): void {
  if (value === "") ct.labels.delete(label);
  else ct.labels.set(label, value);
}

/** TContainer::GetLabel: `.NAME` searches the parents too. */
export function getLabel(ct: Container, label: string): string {
  const v = label.startsWith(".") ? ct.hasLabelChain(label.slice(1)) : ct.labels.get(label);
  if (v === undefined) throw fail(EError.LabelNotFound, `Label ${label} is not set`);
  return v;
}

def({
  name: "labels",
  desc: "User-defined labels",
  dynamic: true,
  anyState: true,
  specField: "labels",
  get: (ct) => stringMapToString(ct.labels),
  set: (ct, v, d) => setLabels(ct, stringToStringMap(v), true, d),
  getIndexed: (ct, idx) => getLabel(ct, idx),
  setIndexed: (ct, idx, v, d) => {
    validLabel(idx, v);
    if (v !== "" && ct.labels.size >= LABEL_COUNT_MAX) throw fail(EError.ResourceNotAvailable, "Too many labels");
    setLabel(ct, idx, v);
    d.waiters.reportAll(ct, idx, v);
  },
  load: (ct, spec, d) => {
    const map = new Map<string, string>();
    for (const e of spec.labels?.map ?? []) map.set(e.key, e.val);
    setLabels(ct, map, spec.labels?.merge ?? false, d);
  },
  dumpSpec: (ct, spec) => {
    spec.labels = create(TStringMapSchema, {
      map: [...ct.labels.keys()].sort().map((k) => create(TStringMap_TStringMapEntrySchema, { key: k, val: ct.labels.get(k) })),
    });
  },
});

def({
  name: "private",
  desc: "User-defined property",
  dynamic: true,
  anyState: true,
  specField: "private",
  get: (ct) => ct.private,
  set: (ct, v) => {
    if (Buffer.byteLength(v) > PRIVATE_VALUE_MAX)
      throw fail(EError.InvalidValue, `Private value is too long, max ${PRIVATE_VALUE_MAX} bytes`);
    ct.private = v;
  },
  load: (ct, spec, d) => PROPERTIES.get("private")!.set!(ct, spec.private, d),
  dumpSpec: (ct, spec) => void (spec.private = ct.private),
});

// ---- flags ----

def({
  name: "weak",
  desc: "Destroy container when client disconnects",
  dynamic: true,
  anyState: true,
  specField: "weak",
  get: (ct) => formatBool(ct.weak),
  set: (ct, v) => void (ct.weak = parseBool(v)),
  load: (ct, spec) => void (ct.weak = spec.weak),
  dumpSpec: (ct, spec) => void (spec.weak = ct.weak),
});
def({
  name: "isolate",
  desc: "New pid/ipc/utc/env namespace",
  specField: "isolate",
  get: (ct) => formatBool(ct.isolate),
  set: (ct, v) => void (ct.isolate = parseBool(v)),
  load: (ct, spec) => void (ct.isolate = spec.isolate),
  dumpSpec: (ct, spec) => void (spec.isolate = ct.isolate),
});
def({
  name: "aging_time",
  desc: "Remove dead containrs after [seconds]",
  dynamic: true,
  anyState: true,
  specField: "agingTime",
  get: (ct) => String(Math.floor(ct.agingTimeMs / 1000)),
  set: (ct, v, d) => {
    ct.agingTimeMs = Number(parseUint64(v)) * 1000;
    if (ct.state === "dead") d.armAging(ct);
  },
  load: (ct, spec) => void (ct.agingTimeMs = Number(spec.agingTime) * 1000),
  dumpSpec: (ct, spec) => void (spec.agingTime = BigInt(Math.floor(ct.agingTimeMs / 1000))),
});

const ACCESS_LEVELS: Record<string, string> = {
  false: "false",
  none: "false",
  "read-isolate": "read-isolate",
  "read-only": "read-only",
  isolate: "isolate",
  "self-isolate": "self-isolate",
  "child-only": "child-only",
  true: "true",
  full: "true",
};
def({
  name: "enable_porto",
  desc: "Proto access level: false (none) | read-isolate | read-only | isolate | child-only | true (full)",
  dynamic: true,
  specField: "enablePorto",
  get: (ct) => ct.accessLevel,
  set: (ct, v) => {
    const level = ACCESS_LEVELS[v];
    if (!level) throw fail(EError.InvalidValue, "Unknown access level: " + v);
    ct.accessLevel = level;
  },
  load: (ct, spec, d) => PROPERTIES.get("enable_porto")!.set!(ct, spec.enablePorto, d),
  dumpSpec: (ct, spec) => void (spec.enablePorto = ct.accessLevel),
});

// ---- paths and credentials ----

def({
  name: "cwd",
  desc: "Container working directory",
  specField: "cwd",
  get: (ct, d) => d.cwd(ct),
  set: (ct, v) => {
    ct.cwd = v;
    ct.setProps.add("cwd");
  },
  load: (ct, spec) => void (ct.cwd = spec.cwd),
  dumpSpec: (ct, spec, d) => void (spec.cwd = d.cwd(ct)),
});
def({
  name: "root",
  desc: "Container root path in parent namespace",
  specField: "root",
  get: (ct) => ct.root,
  set: (ct, v) => void (ct.root = v === "" ? "/" : v),
  load: (ct, spec) => void (ct.root = spec.root === "" ? "/" : spec.root),
  dumpSpec: (ct, spec) => void (spec.root = ct.root),
});

function stdStreamProp(name: "stdin" | "stdout" | "stderr", field: "stdinPath" | "stdoutPath" | "stderrPath"): void {
  def({
    name: `${name}_path`,
    desc: `Container standard ${name === "stdin" ? "input" : name === "stdout" ? "output" : "error"} path`,
    specField: field,
    get: (ct) => ct[name].path,
    set: (ct, v) => {
      if (v.startsWith("/dev/fd/") && v !== "/dev/null") {
        const n = v.slice(8);
        const stream = name === "stdin" ? 0 : name === "stdout" ? 1 : 2;
        if (!/^\s*[+-]?\d+\s*$/.test(n)) throw fail(EError.InvalidValue, `Cannot set ${stream} stream as ${v}: Bad int value: ${n}`);
      }
      ct[name] = { path: v, outside: false };
    },
    load: (ct, spec, d) => PROPERTIES.get(`${name}_path`)!.set!(ct, spec[field], d),
    dumpSpec: (ct, spec) => void (spec[field] = ct[name].path),
  });
}
stdStreamProp("stdin", "stdinPath");
stdStreamProp("stdout", "stdoutPath");
stdStreamProp("stderr", "stderrPath");
textProp("stdout_limit", "8388608", {
  desc: "Limit for stored stdout and stderr size",
  dynamic: true,
  specField: "stdoutLimit",
  parse: (v) => String(parseSize(v)),
  load: (ct, spec) => void ct.text.set("stdout_limit", String(spec.stdoutLimit)),
  dumpSpec: (ct, spec) => void (spec.stdoutLimit = BigInt(ct.text.get("stdout_limit") ?? "8388608")),
});

def({
  name: "user",
  desc: "Start command with given user",
  specField: "user",
  get: (ct) => ct.user,
  set: (ct, v) => {
    if (!knownId("user", v)) throw fail(EError.InvalidValue, "Cannot find user: " + v);
    ct.user = v;
  },
  load: (ct, spec, d) => PROPERTIES.get("user")!.set!(ct, spec.user, d),
  dumpSpec: (ct, spec) => void (spec.user = ct.user),
});
def({
  name: "group",
  desc: "Start command with given group",
  specField: "group",
  get: (ct) => ct.group,
  set: (ct, v) => {
    if (!knownId("group", v)) throw fail(EError.InvalidValue, "Cannot find group: " + v);
    ct.group = v;
  },
  load: (ct, spec, d) => PROPERTIES.get("group")!.set!(ct, spec.group, d),
  dumpSpec: (ct, spec) => void (spec.group = ct.group),
});

/**
 * `task_cred` in a spec (TCred): user/uid and group/gid as `user` and
 * `group` take them; `grp` is output only (portod sets the groups itself at
 * start from the host's group database, TCred::InitGroups), so it is ignored,
 * as portod ignores it. The double does not check group membership.
 */
def({
  name: "task_cred",
  desc: "Credentials: uid gid groups...",
  specField: "taskCred",
  // The text form takes a user name, whose primary group comes along (TCred::Init).
  set: (ct, v, d) => {
    PROPERTIES.get("user")!.set!(ct, v, d);
    ct.group = v;
  },
  get: (ct) => {
    const gid = hostId("group", ct.group) ?? 0;
    return `${hostId("user", ct.user) ?? 0} ${gid} ${gid}`;
  },
  load: (ct, spec, d) => {
    const cred = spec.taskCred!;
    const has = (f: keyof typeof TCredSchema.field) => isFieldSet(cred, TCredSchema.field[f]);
    const user = has("user") ? cred.user : has("uid") ? String(cred.uid) : undefined;
    const group = has("group") ? cred.group : has("gid") ? String(cred.gid) : undefined;
    if (user !== undefined) PROPERTIES.get("user")!.set!(ct, user, d);
    if (group !== undefined) PROPERTIES.get("group")!.set!(ct, group, d);
  },
});

// ---- resources: validated and remembered, never enforced ----

def({
  name: "memory_limit",
  desc: "Memory limit [bytes]",
  dynamic: true,
  specField: "memoryLimit",
  get: (ct) => String(ct.memoryLimit),
  set: (ct, v) => setMemoryLimit(ct, parseSize(v)),
  load: (ct, spec) => setMemoryLimit(ct, spec.memoryLimit),
  dumpSpec: (ct, spec) => void (spec.memoryLimit = ct.memoryLimit),
});

function setMemoryLimit(ct: Container, v: bigint): void {
  if (v && v < MIN_MEMORY_LIMIT) throw fail(EError.InvalidValue, `Should be at least ${MIN_MEMORY_LIMIT}`);
  // The kernel reclaims cache to fit a lower limit, never anonymous memory (usage.ts).
  if (v && ct.isRunningOrMeta && v < anonUsage(ct)) throw fail(EError.Busy, "Memory limit is too low for current memory usage");
  ct.memoryLimit = v;
}

for (const [name, field] of [
  ["memory_guarantee", "memoryGuarantee"],
  ["anon_limit", "anonLimit"],
  ["dirty_limit", "dirtyLimit"],
  ["hugetlb_limit", "hugetlbLimit"],
] as const) {
  textProp(name, "0", {
    dynamic: true,
    unsupported: name === "memory_guarantee" || name === "anon_limit",
    specField: field,
    parse: (v) => String(parseSize(v)),
    load: (ct, spec) => void ct.text.set(name, String(spec[field])),
    dumpSpec: (ct, spec) => void (spec[field] = BigInt(ct.text.get(name) ?? "0")),
  });
}

const CORES = availableParallelism();

def({
  name: "cpu_limit",
  desc: "CPU limit: <CPUS>c [cores]",
  dynamic: true,
  specField: "cpuLimit",
  get: (ct) => formatCpuPower(ct.cpuLimit),
  set: (ct, v) => void (ct.cpuLimit = parseCpuPower(v, CORES)),
  load: (ct, spec) => void (ct.cpuLimit = BigInt(Math.trunc(spec.cpuLimit * 1e9))),
  dumpSpec: (ct, spec) => void (spec.cpuLimit = Number(ct.cpuLimit) / 1e9),
});
textProp("cpu_guarantee", "0c", {
  desc: "CPU guarantee: <CPUS>c [cores]",
  dynamic: true,
  specField: "cpuGuarantee",
  parse: (v) => formatCpuPower(parseCpuPower(v, CORES)),
  load: (ct, spec) => void ct.text.set("cpu_guarantee", formatCpuPower(BigInt(Math.trunc(spec.cpuGuarantee * 1e9)))),
  dumpSpec: (ct, spec) => void (spec.cpuGuarantee = Number(parseCpuPower(ct.text.get("cpu_guarantee") ?? "0c", CORES)) / 1e9),
});
textProp("cpu_weight", "1", {
  desc: "CPU weight 0.01..100, default is 1",
  dynamic: true,
  specField: "cpuWeight",
  parse: (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0.01 || n > 100) throw fail(EError.InvalidValue, "out of range");
    return String(n);
  },
  load: (ct, spec) => void ct.text.set("cpu_weight", String(spec.cpuWeight)),
  dumpSpec: (ct, spec) => void (spec.cpuWeight = Number(ct.text.get("cpu_weight") ?? "1")),
});
textProp("cpu_policy", "normal", {
  desc: "CPU policy: rt, high, normal, batch, idle",
  dynamic: true,
  specField: "cpuPolicy",
  parse: (v) => {
    if (!["rt", "high", "normal", "batch", "idle", "iso", "nice"].includes(v)) throw fail(EError.InvalidValue, "Unknown cpu policy: " + v);
    return v;
  },
  load: (ct, spec) => void ct.text.set("cpu_policy", spec.cpuPolicy),
  dumpSpec: (ct, spec) => void (spec.cpuPolicy = ct.text.get("cpu_policy") ?? "normal"),
});
textProp("thread_limit", "10000", {
  desc: "Thread limit",
  dynamic: true,
  specField: "threadLimit",
  parse: (v) => String(parseUint64(v)),
  load: (ct, spec) => void ct.text.set("thread_limit", String(spec.threadLimit)),
  dumpSpec: (ct, spec) => void (spec.threadLimit = BigInt(ct.text.get("thread_limit") ?? "10000")),
});
textProp("oom_score_adj", "0", {
  desc: "OOM score adjustment: -1000..1000",
  specField: "oomScoreAdj",
  parse: (v) => {
    const n = parseInt32(v);
    if (n < -1000 || n > 1000) throw fail(EError.InvalidValue, "out of range");
    return String(n);
  },
  load: (ct, spec) => void ct.text.set("oom_score_adj", String(spec.oomScoreAdj)),
  dumpSpec: (ct, spec) => void (spec.oomScoreAdj = Number(ct.text.get("oom_score_adj") ?? "0")),
});
textProp("oom_is_fatal", "true", {
  desc: "Kill all affected containers on OOM event",
  dynamic: true,
  specField: "oomIsFatal",
  parse: boolText,
  load: (ct, spec) => void ct.text.set("oom_is_fatal", formatBool(spec.oomIsFatal)),
  dumpSpec: (ct, spec) => void (spec.oomIsFatal = (ct.text.get("oom_is_fatal") ?? "true") === "true"),
});

// ---- respawn ----

def({
  name: "respawn",
  desc: "Automatically respawn dead container",
  dynamic: true,
  anyState: true,
  specField: "respawn",
  get: (ct) => formatBool(ct.respawn),
  set: (ct, v) => void (ct.respawn = parseBool(v)),
  load: (ct, spec) => void (ct.respawn = spec.respawn),
  dumpSpec: (ct, spec) => void (spec.respawn = ct.respawn),
});
def({
  name: "max_respawns",
  desc: "Limit respawn count for specific container",
  dynamic: true,
  anyState: true,
  specField: "maxRespawns",
  get: (ct) => (ct.maxRespawns >= 0n ? String(ct.maxRespawns) : ""),
  set: (ct, v) => void (ct.maxRespawns = parseInt64(v)),
  load: (ct, spec) => void (ct.maxRespawns = spec.maxRespawns),
  dumpSpec: (ct, spec) => void (spec.maxRespawns = ct.maxRespawns),
});
def({
  name: "respawn_count",
  desc: "Container respawn count",
  dynamic: true,
  anyState: true,
  specField: "respawnCount",
  get: (ct) => String(ct.respawnCount),
  set: (ct, v) => void (ct.respawnCount = parseUint64(v)),
  load: (ct, spec) => void (ct.respawnCount = spec.respawnCount),
  dumpSpec: (ct, spec) => void (spec.respawnCount = ct.respawnCount),
});
def({
  name: "respawn_delay",
  desc: "Delay before automatic respawn",
  dynamic: true,
  anyState: true,
  specField: "respawnDelay",
  get: (ct) => `${ct.respawnDelayNs}ns`,
  set: (ct, v) => void (ct.respawnDelayNs = parseUint64(v.replace(/ns$/, ""))),
  load: (ct, spec) => void (ct.respawnDelayNs = spec.respawnDelay),
  dumpSpec: (ct, spec) => void (spec.respawnDelay = ct.respawnDelayNs),
});

// ---- isolation settings: remembered as text, not applied (no namespaces in the double) ----

textProp("virt_mode", "app", {
  desc: "Virtualization mode: os|app|job|host",
  specField: "virtMode",
  parse: (v) => {
    if (!["app", "os", "job", "host", "docker", "fuse"].includes(v)) throw fail(EError.InvalidValue, `Unsupported ${"virt_mode"}: ${v}`);
    return v;
  },
  load: (ct, spec, d) => PROPERTIES.get("virt_mode")!.set!(ct, spec.virtMode, d),
  dumpSpec: (ct, spec) => void (spec.virtMode = ct.text.get("virt_mode") ?? "app"),
});
textProp("root_readonly", "false", {
  desc: "Make filesystem read-only",
  specField: "rootReadonly",
  parse: boolText,
  load: (ct, spec) => void ct.text.set("root_readonly", formatBool(spec.rootReadonly)),
  dumpSpec: (ct, spec) => void (spec.rootReadonly = ct.text.get("root_readonly") === "true"),
});
for (const [name, field, desc] of [
  ["hostname", "hostname", "Container hostname"],
  ["etc_hosts", "etcHosts", "Override /etc/hosts content"],
  ["porto_namespace", "portoNamespace", "Porto containers namespace (container name prefix)"],
] as const) {
  textProp(name, "", {
    desc,
    specField: field,
    load: (ct, spec) => void ct.text.set(name, spec[field]),
    dumpSpec: (ct, spec) => void (spec[field] = ct.text.get(name) ?? ""),
  });
}
/** printf("%#o"): 0 prints as "0", 2 as "02". */
function octal(n: number): string {
  return n === 0 ? "0" : "0" + n.toString(8);
}
/** resolv_conf: `inherit` (root "/") or `default` until set; `keep` or `<line>;<line>` otherwise. */
def({
  name: "resolv_conf",
  desc: "DNS resolver configuration: default|keep|<resolv.conf option>;...",
  dynamic: true,
  specField: "resolvConf",
  get: (ct) => ct.text.get("resolv_conf") ?? (ct.root === "/" ? "inherit" : "default"),
  set: (ct, v) => {
    if (v === "default" || v === "inherit") ct.text.delete("resolv_conf");
    else ct.text.set("resolv_conf", v === "" ? "keep" : v);
  },
  load: (ct, spec, d) => PROPERTIES.get("resolv_conf")!.set!(ct, spec.resolvConf, d),
  dumpSpec: (ct, spec, d) => void (spec.resolvConf = PROPERTIES.get("resolv_conf")!.get(ct, d)),
});

textProp("umask", "02", {
  desc: "Set file mode creation mask",
  specField: "umask",
  parse: (v) => {
    if (!/^\s*[0-7]+\s*$/.test(v)) throw fail(EError.InvalidValue, "Bad base-8 value: " + v);
    return octal(Number.parseInt(v, 8));
  },
  // The typed field carries the octal digits as a decimal number: portod parses String(umask) as
  // octal and dumps stoi("%#o"), so 022 travels as 22 and 18 (0o22) is "Bad base-8 value: 18".
  load: (ct, spec) => {
    if (!/^[0-7]+$/.test(String(spec.umask))) throw fail(EError.InvalidValue, "Bad base-8 value: " + spec.umask);
    ct.text.set("umask", octal(Number.parseInt(String(spec.umask), 8)));
  },
  dumpSpec: (ct, spec) => void (spec.umask = Number.parseInt(ct.text.get("umask") ?? "02", 10)),
});

/**
 * Mount flag names in portod's table order (src/util/path.cpp MountFlags),
 * with their bits: text shows flags in this order, specs in bit order.
 */
const MOUNT_FLAGS: readonly [string, bigint][] = [
  ["rw", 1n << 60n], ["ro", 1n], ["suid", 1n << 62n], ["nosuid", 2n], ["dev", 1n << 63n], ["nodev", 4n],
  ["exec", 1n << 61n], ["noexec", 8n], ["sync", 16n], ["remount", 32n], ["mand", 64n], ["dirsync", 128n],
  ["noatime", 1024n], ["nodiratime", 2048n], ["bind", 4096n], ["move", 8192n], ["rec", 16384n], ["silent", 32768n],
  ["acl", 1n << 16n], ["unbindable", 1n << 17n], ["private", 1n << 18n], ["slave", 1n << 19n], ["shared", 1n << 20n],
  ["relatime", 1n << 21n], ["iversion", 1n << 23n], ["strictatime", 1n << 24n], ["lazyatime", 1n << 25n],
]; // prettier-ignore
/** What a bind may say (TBindMount::Load): everything else is "Not allowed flags". */
const BIND_FLAGS = new Set(["rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "rec", "private", "unbindable", "noatime", "nodiratime", "relatime"]);

/** A bind's flags checked as TMount::ParseFlags does, in table order (as the text property prints them). */
function bindFlags(names: readonly string[]): string[] {
  const given = new Set<string>();
  for (const raw of names.flatMap((n) => n.split(","))) {
    const name = raw.trim();
    if (name === "") continue;
    if (!MOUNT_FLAGS.some(([n]) => n === name)) throw fail(EError.InvalidValue, `Unknown flag "${name}"`);
    given.add(name);
  }
  const refused = MOUNT_FLAGS.filter(([n]) => given.has(n) && !BIND_FLAGS.has(n)).map(([n]) => n);
  if (refused.length > 0) throw fail(EError.InvalidValue, `Not allowed flags ${refused.join(",")}`);
  return MOUNT_FLAGS.filter(([n]) => given.has(n)).map(([n]) => n);
}

/** `bind`: `<source> <target> [flags,...];...`. */
textProp("bind", "", {
  desc: "Bind mounts: <source> <target> [ro|rw|<flag>],... ;...",
  specField: "bind",
  parse: (v) => {
    const lines = splitEscaped2(v, " ", ";");
    for (const l of lines) if (l.length < 2) throw fail(EError.InvalidValue, "Invalid bind mount: " + l.join(" "));
    // TBindMount::Format always prints the flags column, empty or not.
    return mergeEscaped2(lines.map((l) => [l[0], l[1], bindFlags(l.slice(2, 3)).join(",")]), " ", ";");
  },
  load: (ct, spec) =>
    void ct.text.set(
      "bind",
      mergeEscaped2((spec.bind?.bind ?? []).map((b) => [b.source, b.target, bindFlags(b.flag).join(",")]), " ", ";"),
    ),
  dumpSpec: (ct, spec) => {
    // TBindMount::Dump lists the flags bit by bit.
    const bitOrder = (flags: string[]) =>
      flags.map((f) => MOUNT_FLAGS.find(([n]) => n === f)!).sort((a, b) => (a[1] < b[1] ? -1 : 1)).map(([n]) => n);
    spec.bind = create(TContainerBindMountsSchema, {
      bind: splitEscaped2(ct.text.get("bind") ?? "", " ", ";").map((l) =>
        create(TContainerBindMountSchema, { source: l[0], target: l[1], flag: l[2] ? bitOrder(l[2].split(",")) : [] }),
      ),
    });
  },
});

/** `ulimit`: `<type>: <soft>|unlimited [hard]; ...`, each item printed with a trailing `; `. */
const ULIMIT_TYPES = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];
const UNLIMITED = 2n ** 64n - 1n;

interface Ulimit {
  type: string;
  soft: bigint;
  hard: bigint;
}

/** TUlimitResource::Parse for each item of the text. */
export function parseUlimits(v: string): Ulimit[] {
  const out: Ulimit[] = [];
  for (const item of splitEscaped(v, ";")) {
    const col = item.indexOf(":");
    const type = col < 0 ? "" : trim(item.slice(0, col));
    if (col < 0 || !ULIMIT_TYPES.includes(type)) throw fail(EError.InvalidValue, `Invalid ulimit: ${item}`);
    const [soft = "", hard = ""] = trim(item.slice(col + 1)).split(/\s+/);
    const num = (x: string) => (["unlimited", "unlim", "inf", "-1"].includes(x) ? UNLIMITED : parseSize(x));
    const s = num(soft);
    const u = { type, soft: s, hard: hard ? num(hard) : s };
    const at = out.findIndex((o) => o.type === type);
    if (at >= 0) out[at] = u;
    else out.push(u);
  }
  return out;
}

function formatUlimits(list: readonly Ulimit[]): string {
  const n = (x: bigint) => (x === UNLIMITED ? "unlimited" : String(x));
  return list.map((u) => `${u.type}: ${n(u.soft)} ${n(u.hard)}; `).join("");
}

textProp("ulimit", "", {
  desc: "Process limits: as|core|data|locks|memlock|nofile|nproc|stack: <soft>|unlimited [hard];...",
  dynamic: true,
  specField: "ulimit",
  parse: (v) => formatUlimits(parseUlimits(v)),
  load: (ct, spec) => {
    const list = spec.ulimit?.merge ? parseUlimits(ct.text.get("ulimit") ?? "") : [];
    for (const u of spec.ulimit?.ulimit ?? []) {
      if (!ULIMIT_TYPES.includes(u.type)) throw fail(EError.InvalidValue, `Invalid ulimit: ${u.type}`);
      const soft = u.unlimited ? UNLIMITED : u.soft;
      const e = { type: u.type, soft, hard: u.unlimited ? UNLIMITED : u.hard || soft };
      const at = list.findIndex((o) => o.type === u.type);
      if (at >= 0) list[at] = e;
      else list.push(e);
    }
    ct.text.set("ulimit", formatUlimits(list));
  },
  /** TContainer::GetUlimit: own limits, then the parents' and the root's for the rest, marked inherited. */
  dumpSpec: (ct, spec, d) => {
    const own = parseUlimits(ct.text.get("ulimit") ?? "");
    const inherited: Ulimit[] = [];
    const sources = [];
    for (let p = ct.parent; p && !p.isRoot; p = p.parent) sources.push(p.text.get("ulimit") ?? "");
    sources.push(d.options.defaultUlimit);
    for (const src of sources)
      for (const u of parseUlimits(src))
        if (!own.some((o) => o.type === u.type) && !inherited.some((o) => o.type === u.type)) inherited.push(u);
    spec.ulimit = create(TContainerUlimitsSchema, {
      ulimit: [...own.map((u) => [u, false] as const), ...inherited.map((u) => [u, true] as const)].map(([u, inh]) => {
        const m = create(TContainerUlimitSchema, { type: u.type });
        if (u.soft < UNLIMITED) m.soft = u.soft;
        else m.unlimited = true;
        if (u.hard < UNLIMITED) m.hard = u.hard;
        if (inh) m.inherited = true;
        return m;
      }),
    });
  },
});

/** Capability names in bit order (linux/capability.h). */
const CAP_NUMBERS = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
];

/** What portod 5.3.59 reports for a root client's new container. */
const DEFAULT_CAPABILITIES =
  "CHOWN;DAC_OVERRIDE;FOWNER;FSETID;KILL;SETGID;SETUID;SETPCAP;NET_BIND_SERVICE;NET_ADMIN;NET_RAW;IPC_LOCK;SYS_CHROOT;SYS_PTRACE;MKNOD;AUDIT_WRITE;SETFCAP";

for (const [name, field] of [
  ["capabilities", "capabilities"],
  ["capabilities_ambient", "capabilitiesAmbient"],
] as const) {
  textProp(name, name === "capabilities" ? DEFAULT_CAPABILITIES : "", {
    desc: name,
    dynamic: false,
    specField: field,
    parse: (v) => splitEscaped(v, ";").map((c) => c.toUpperCase().replace(/^CAP_/, "")).join(";"),
    load: (ct, spec) => void ct.text.set(name, (spec[field]?.cap ?? []).map((c) => c.toUpperCase().replace(/^CAP_/, "")).join(";")),
    dumpSpec: (ct, spec) => {
      const dflt = name === "capabilities" ? DEFAULT_CAPABILITIES : "";
      const cap = splitEscaped(ct.text.get(name) ?? dflt, ";");
      const mask = cap.reduce((m, c) => (CAP_NUMBERS.includes(c) ? m | (1n << BigInt(CAP_NUMBERS.indexOf(c))) : m), 0n);
      spec[field] = create(TCapabilitiesSchema, { cap, hex: mask.toString(16).padStart(16, "0") });
    },
  });
}

/** `net`: `<opt> <arg>...; ...`, default `inherited`. */
textProp("net", "inherited", {
  desc: "Container network settings: none | inherited (default) | L3 <name> | ...",
  specField: "net",
  parse: (v) => mergeEscaped2(splitEscaped2(v, " ", ";"), " ", ";") || "inherited",
  load: (ct, spec) =>
    void ct.text.set("net", mergeEscaped2((spec.net?.cfg ?? []).map((o) => [o.opt, ...o.arg]), " ", ";") || "inherited"),
  dumpSpec: (ct, spec) => {
    spec.net = create(TContainerNetConfigSchema, {
      cfg: splitEscaped2(ct.text.get("net") ?? "inherited", " ", ";").map((l) =>
        create(TContainerNetOptionSchema, { opt: l[0], arg: l.slice(1) }),
      ),
      inherited: (ct.text.get("net") ?? "inherited") === "inherited",
    });
  },
});
textProp("sysctl", "", {
  desc: "Sysctl, format: name: value;...",
  specField: "sysctl",
  parse: (v) => stringMapToString(stringToStringMap(v)),
  load: (ct, spec) => void ct.text.set("sysctl", stringMapToString(new Map((spec.sysctl?.map ?? []).map((e) => [e.key, e.val])))),
  dumpSpec: (ct, spec) => {
    const m = stringToStringMap(ct.text.get("sysctl") ?? "");
    spec.sysctl = create(TStringMapSchema, {
      map: [...m.keys()].sort().map((k) => create(TStringMap_TStringMapEntrySchema, { key: k, val: m.get(k) })),
    });
  },
});
textProp("ip", "", { desc: "IP configuration: <interface> <ip>/<prefix>; ..." });
textProp("default_gw", "", { desc: "Default gateway: <interface> <ip>; ..." });
textProp("devices", "", { desc: "Devices that container can access: <device> [r][w][m][-] [name] [mode] [user] [group]; ...", dynamic: true });
textProp("controllers", "freezer;memory;cpu;cpuacct;blkio;devices;hugetlb;cpuset;pids;perf_event;cgroup2", {
  desc: "Cgroup controllers",
});

// ---- cpu_period, cpu_set, devices, seccomp (as the mapping's specs set them) ----

textProp("cpu_period", "100000000", {
  desc: "CPU limit period: 1ms..1s, default: 100ms [nanoseconds]",
  dynamic: true,
  specField: "cpuPeriod",
  parse: (v) => String(checkCpuPeriod(parseUint64(v))),
  load: (ct, spec) => void ct.text.set("cpu_period", String(checkCpuPeriod(spec.cpuPeriod))),
  dumpSpec: (ct, spec) => void (spec.cpuPeriod = BigInt(ct.text.get("cpu_period") ?? "100000000")),
});

function checkCpuPeriod(v: bigint): bigint {
  if (v < 1_000_000n || v > 1_000_000_000n) throw fail(EError.InvalidValue, "cpu period out of range");
  return v;
}

/** cpu_set: only the empty (inherit) and explicit-list forms. */
textProp("cpu_set", "", {
  desc: "CPU set: [N|N-M,]... | jail N | [jail N;] node N",
  dynamic: true,
  specField: "cpuSet",
  load: (ct, spec) => {
    const cs = spec.cpuSet;
    if (!cs || cs.policy === "" || cs.policy === "inherit") ct.text.set("cpu_set", "");
    else if (cs.policy === "set") ct.text.set("cpu_set", cs.list || cs.cpu.join(","));
    else throw fail(EError.NotSupported, `porto double does not model cpu_set policy ${cs.policy}`);
  },
  dumpSpec: (ct, spec) => {
    const list = ct.text.get("cpu_set") ?? "";
    spec.cpuSet = create(TContainerCpuSetSchema, list === "" ? { policy: "inherit" } : { policy: "set", list });
  },
});

interface DeviceEntry {
  device: string;
  access: string;
  path: string;
  mode: string;
  user: string;
  group: string;
}
const DEVICES = new WeakMap<Container, DeviceEntry[]>();
/** TDevices::InitDefault: what every container may use. */
const DEFAULT_DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/console", "/dev/ptmx"];

/** TDevice::Parse: a device node under /dev; r or w implies m; mode, user, group from the host node. */
function parseDevice(d: { device: string; access: string; path?: string }): DeviceEntry {
  const inDev = (p: string) => {
    if (!p.startsWith("/dev/") || p.split("/").some((c) => c === "." || c === ".."))
      throw fail(EError.InvalidValue, `Device path not in /dev: ${p}`);
  };
  inDev(d.device);
  if (!/^[rwm?*-]*$/.test(d.access)) throw fail(EError.InvalidValue, "Invalid access: " + d.access);
  let st;
  try {
    st = statSync(d.device);
  } catch {
    throw fail(EError.DeviceNotFound, `Device ${d.device} does not exists`);
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw fail(EError.DeviceNotFound, `Not a device node: ${d.device}`);
  const path = d.path || d.device;
  inDev(path);
  let access = "";
  for (const c of "rwm") if (d.access.includes(c) || (c === "m" && /[rw]/.test(d.access))) access += c;
  return { device: d.device, access: access || "-", path, mode: "0" + (st.mode & 0o777).toString(8), user: st.uid === 0 ? "root" : String(st.uid), group: st.gid === 0 ? "root" : String(st.gid) };
}

/** TContainer::EffectiveDevices: device nodes allowed, up to the root container (which allows all). */
function allowedDevices(ct: Container | undefined): Set<string> | undefined {
  if (!ct || ct.isRoot) return undefined;
  const out = allowedDevices(ct.parent) ?? new Set(DEFAULT_DEVICES);
  for (const d of DEVICES.get(ct) ?? []) if (d.access !== "-") out.add(d.device);
  return out;
}

def({
  name: "devices",
  desc: "Devices that container can access: <device> [r][w][m][-][?] [path] [mode] [user] [group]|preset <preset>; ...",
  dynamic: true,
  specField: "devices",
  get: (ct) => (DEVICES.get(ct) ?? []).map((d) => `${d.device} ${d.access} ${d.path} ${d.mode} ${d.user} ${d.group}; `).join(""),
  set: (ct, v) => setDevices(ct, splitEscaped2(v, " ", ";").filter((l) => l.length > 0).map((l) => ({ device: l[0], access: l[1] ?? "", path: l[2] })), false),
  load: (ct, spec) => setDevices(ct, spec.devices!.device, spec.devices!.merge ?? false),
  dumpSpec: (ct, spec) => {
    spec.devices = create(TContainerDevicesSchema, { device: (DEVICES.get(ct) ?? []).map((d) => create(TContainerDeviceSchema, d)) });
  },
});

function setDevices(ct: Container, list: readonly { device: string; access: string; path?: string }[], merge: boolean): void {
  const next = list.map(parseDevice);
  // SetDeviceConf: a child may only use devices its parent allows (the root container allows all).
  const parentAllows = allowedDevices(ct.parent);
  if (parentAllows && next.some((d) => !parentAllows.has(d.device)))
    throw fail(EError.Permission, "Device is not permitted for parent container");
  const merged = merge ? [...(DEVICES.get(ct) ?? [])] : [];
  for (const d of next) {
    const at = merged.findIndex((m) => m.path === d.path);
    if (at >= 0) merged[at] = d;
    else merged.push(d);
  }
  DEVICES.set(ct, merged);
  ct.setProps.add("devices");
}

const SECCOMP = new WeakMap<Container, TProfile>();

/** Protobuf text format in one line, as portod prints seccomp (its name is not kept). */
function seccompText(p: TProfile): string {
  const action = (a: TAction | undefined) =>
    `action { action: ${EAction[a?.action ?? EAction.Allow]} ${a?.value !== undefined && a.value !== 0n ? `value: ${a.value} ` : ""}} `;
  let out = `default_action ${action(p.defaultAction).slice("action ".length)}`;
  for (const r of p.rules) {
    const args = r.args.map((x) => `args { index: ${x.index} compare: ${ECompare[x.compare]} value: ${x.value} } `).join("");
    out += `rules { syscall: ${JSON.stringify(r.syscall)} ${args}${action(r.action)}} `;
  }
  return out;
}

def({
  name: "seccomp",
  desc: "Seccomp profile rules",
  specField: "seccomp",
  get: (ct) => seccompText(SECCOMP.get(ct) ?? create(TProfileSchema)),
  set: () => {
    throw fail(EError.NotSupported, "porto double does not parse seccomp text; use the typed spec");
  },
  load: (ct, spec) => {
    // TContainer::CanSetSeccomp: one profile per branch of the tree.
    for (let p = ct.parent; p; p = p.parent) if (SECCOMP.has(p)) throw fail(EError.InvalidState, "seccomp already set for ancestor");
    for (const d of ct.subtree()) if (d !== ct && SECCOMP.has(d)) throw fail(EError.InvalidState, "seccomp already set for descendant");
    const p = create(TProfileSchema, { defaultAction: spec.seccomp!.defaultAction, rules: spec.seccomp!.rules });
    if ((p.defaultAction?.action ?? EAction.Allow) === EAction.Allow && p.rules.length === 0) SECCOMP.delete(ct);
    else SECCOMP.set(ct, p);
  },
  dumpSpec: (ct, spec) => {
    const p = SECCOMP.get(ct);
    if (p) spec.seccomp = create(TProfileSchema, p);
  },
});

// ---- lookups ----

/** ParsePropertyName: `name[index]`. */
export function parsePropertyName(property: string): { name: string; index: string | undefined } {
  if (property.endsWith("]")) {
    const lb = property.indexOf("[");
    if (lb >= 0) return { name: property.slice(0, lb), index: property.slice(lb + 1, -1) };
  }
  return { name: property, index: undefined };
}

function canGet(p: Prop, ct: Container): void {
  if (p.unsupported) throw fail(EError.NotSupported, `${p.name} is not supported`);
  if (p.runtimeOnly && (ct.state === "stopped" || ct.state === "starting"))
    throw fail(EError.InvalidState, `${p.name} is not available in ${ct.state} state`);
  if (p.deadOnly && ct.state !== "dead") throw fail(EError.InvalidState, `${p.name} available only in dead state`);
}

function canSet(p: Prop, ct: Container): void {
  if (p.unsupported) throw fail(EError.NotSupported, `${p.name} is not supported`);
  if (p.readOnly || !p.set) throw fail(EError.InvalidValue, `${p.name} is read-only`);
  if (!p.dynamic && ct.state !== "stopped")
    throw fail(EError.InvalidState, `${p.name} could be set only in stopped state`);
  if (!p.anyState && ct.state === "dead") throw fail(EError.InvalidState, `${p.name} cannot be set in dead state`);
}

/** TContainer::GetProperty. */
export function getProperty(ct: Container, property: string, d: Daemon): string {
  const { name, index } = parsePropertyName(property);
  if (index === undefined && name.includes(".")) {
    if (isLabelName(name)) return getLabel(ct, name);
    if (ct.state === "stopped") throw fail(EError.InvalidState, "Not available in stopped state: " + name);
    const knob = CGROUP_KNOBS.get(name);
    if (knob) return knob(ct);
    throw fail(EError.InvalidProperty, `Unknown cgroup attribute: ${name}`);
  }
  if (index === "") throw fail(EError.InvalidProperty, "Empty property index");
  const p = PROPERTIES.get(name);
  if (!p) throw fail(EError.InvalidProperty, "Unknown container property: " + name);
  canGet(p, ct);
  if (index !== undefined) {
    if (!p.getIndexed) throw fail(EError.InvalidValue, "Invalid subscript for property");
    return p.getIndexed(ct, index, d);
  }
  return p.get(ct, d);
}

/** TContainer::SetProperty: the value is trimmed; `PREFIX.name` sets a label. */
export function setProperty(ct: Container, property: string, rawValue: string, d: Daemon): void {
  const { name, index } = parsePropertyName(property);
  if (index === "") throw fail(EError.InvalidProperty, "Empty property index");
  const value = trim(rawValue);
  const p = PROPERTIES.get(name);
  if (!p) {
    if (name.includes(".") && isLabelName(name)) {
      validLabel(name, value);
      setLabel(ct, name, value);
      d.waiters.reportAll(ct, name, value);
      return;
    }
    throw fail(EError.InvalidProperty, "Invalid property " + name);
  }
  canSet(p, ct);
  if (index !== undefined) {
    if (!p.setIndexed) throw fail(EError.InvalidValue, "Invalid subscript for property");
    p.setIndexed(ct, index, value, d);
  } else p.set!(ct, value, d);
  ct.changeTime = Math.floor(Date.now() / 1000);
}

/** TContainer::Load(spec): properties in name order; a spec field the double does not model is refused. */
export function loadSpec(ct: Container, spec: TContainerSpec, d: Daemon): void {
  const handled = new Set<string>(["name"]);
  for (const name of [...PROPERTIES.keys()].sort()) {
    const p = PROPERTIES.get(name)!;
    if (!p.specField || !p.load) continue;
    handled.add(p.specField);
    if (!isFieldSet(spec, TContainerSpecSchema.field[p.specField])) continue;
    canSet(p, ct);
    p.load(ct, spec, d);
  }
  const unmodelled = TContainerSpecSchema.fields.filter((f) => !handled.has(f.localName) && isFieldSet(spec, f));
  if (unmodelled.length)
    throw fail(
      EError.NotSupported,
      `porto double does not model spec field(s): ${unmodelled.map((f) => f.name).join(", ")}`,
    );
  ct.changeTime = Math.floor(Date.now() / 1000);
}

/** TContainer::Dump: readable properties, read-only ones into status, the rest into spec. */
export function dumpContainer(
  ct: Container,
  props: readonly string[],
  spec: TContainerSpec,
  status: TContainerStatus,
  d: Daemon,
  errors: (name: string) => void,
): void {
  const names = props.length ? props : [...PROPERTIES.keys()].sort();
  for (const name of names) {
    const p = PROPERTIES.get(name);
    if (!p) {
      errors(name);
      continue;
    }
    try {
      canGet(p, ct);
    } catch {
      continue;
    }
    if (p.readOnly) p.dumpStatus?.(ct, status, d);
    else p.dumpSpec?.(ct, spec, d);
  }
}
