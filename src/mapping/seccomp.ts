/**
 * Seccomp for CRI containers on Porto: RuntimeDefault, Unconfined and
 * Localhost profiles as Porto's inline `seccomp` (seccomp.TProfile), which
 * portod compiles with libseccomp and loads in the task right before exec.
 *
 * Facts from portod 5.3.59 (src/seccomp.cpp, src/task.cpp) that shape this:
 * - libseccomp loads a filter with its NNP attribute on, so every container
 *   with a non-empty profile runs with no_new_privs=1, whatever CRI asked
 *   (seen: NoNewPrivs 1 with any rule; 0 with an empty profile, which portod
 *   does not load at all). no_new_privs=false therefore cannot be honoured
 *   together with a profile: setuid binaries do not gain privileges then.
 * - Porto has no no_new_privs switch of its own, so no_new_privs=true without
 *   a profile is done with a profile that changes nothing real (`NNP_ONLY`).
 * - A syscall name libseccomp does not know fails the whole CreateFromSpec
 *   ("unkonwn syscall"); runc would skip it. Names below are x86-64 ones known
 *   to libseccomp 2.5.0 and later.
 * - Argument comparisons take one value: MaskedEq matches (arg & value) == 0.
 * - A seccomp profile on an ancestor is inherited and forbids one on a
 *   descendant, so pods never get one; exec'd processes (children of the
 *   container) inherit the container's.
 *
 * RuntimeDefault is Docker's/containerd's default profile turned around:
 * those allow a list and refuse the rest with EPERM; here everything is
 * allowed except what they refuse, with their capability exceptions. Same
 * answers for every syscall they name, except: syscalls newer than the list
 * are allowed rather than refused, personality() is not narrowed to its safe
 * values, and clone() with CLONE_IO is refused along with the namespace
 * flags (the rule can only compare the flags word, as >= CLONE_NEWCGROUP).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EAction, ECompare } from "../../gen/seccomp_pb.js";
import type { TProfileSchema, TRuleSchema } from "../../gen/seccomp_pb.js";

export type ProfileInit = MessageInitShape<typeof TProfileSchema>;
type RuleInit = MessageInitShape<typeof TRuleSchema>;

const EPERM = 1n;
const ENOSYS = 38n;

/**
 * Syscalls Docker's default profile refuses, by the capability that lets a
 * container have them ("" = refused whatever the capabilities).
 */
const REFUSED: ReadonlyArray<{ caps: readonly string[]; syscalls: readonly string[] }> = [
  // Keyrings are not namespaced; obsolete or unimplemented calls; io_uring (moby 25).
  {
    caps: [],
    syscalls: [
      "add_key",
      "keyctl",
      "request_key",
      "create_module",
      "get_kernel_syms",
      "query_module",
      "nfsservctl",
      "uselib",
      "ustat",
      "sysfs",
      "_sysctl",
      "io_uring_setup",
      "io_uring_enter",
      "io_uring_register",
    ],
  },
  {
    caps: ["SYS_ADMIN"],
    syscalls: [
      "fanotify_init",
      "lookup_dcookie",
      "mount",
      "umount2",
      "name_to_handle_at",
      "pivot_root",
      "quotactl",
      "setdomainname",
      "sethostname",
      "setns",
      "swapon",
      "swapoff",
      "unshare",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "move_mount",
      "open_tree",
    ],
  },
  { caps: ["SYS_ADMIN", "BPF"], syscalls: ["bpf"] },
  { caps: ["SYS_ADMIN", "PERFMON"], syscalls: ["perf_event_open"] },
  { caps: ["SYS_BOOT"], syscalls: ["reboot", "kexec_load", "kexec_file_load"] },
  { caps: ["SYS_MODULE"], syscalls: ["delete_module", "init_module", "finit_module"] },
  { caps: ["SYS_PACCT"], syscalls: ["acct"] },
  { caps: ["SYS_RAWIO"], syscalls: ["iopl", "ioperm"] },
  { caps: ["SYS_TIME"], syscalls: ["settimeofday", "clock_settime", "clock_adjtime"] },
  { caps: ["SYS_TTY_CONFIG"], syscalls: ["vhangup"] },
  { caps: ["SYS_NICE"], syscalls: ["get_mempolicy", "mbind", "set_mempolicy", "move_pages", "migrate_pages"] },
  { caps: ["SYSLOG"], syscalls: ["syslog"] },
  { caps: ["DAC_READ_SEARCH"], syscalls: ["open_by_handle_at"] },
  { caps: ["SYS_PTRACE"], syscalls: ["userfaultfd"] },
];

/** CLONE_NEWCGROUP, the lowest namespace flag above the ones a thread or fork uses. */
const CLONE_NEWCGROUP = 0x0200_0000n;
const AF_VSOCK = 40n;

export const RUNTIME_DEFAULT_NAME = "portoshim-runtime-default";

/** Docker's default refusals for a container with bounding set `caps` (names without CAP_). */
export function runtimeDefaultProfile(caps: Iterable<string>): ProfileInit {
  const have = new Set(caps);
  const rules: RuleInit[] = [];
  const refuse = (syscall: string, value = EPERM, args: RuleInit["args"] = []) =>
    rules.push({ syscall, args, action: { action: EAction.Errno, value } });
  for (const group of REFUSED) {
    if (group.caps.some((c) => have.has(c))) continue;
    for (const s of group.syscalls) refuse(s);
  }
  if (!have.has("SYS_ADMIN")) {
    // Namespaces need CAP_SYS_ADMIN; clone3's flags are in memory, so Docker makes it ENOSYS and libc falls back to clone.
    refuse("clone", EPERM, [{ index: 0n, compare: ECompare.Ge, value: CLONE_NEWCGROUP }]);
    refuse("clone3", ENOSYS);
  }
  refuse("socket", EPERM, [{ index: 0n, compare: ECompare.Eq, value: AF_VSOCK }]);
  return { name: RUNTIME_DEFAULT_NAME, defaultAction: { action: EAction.Allow }, rules };
}

/**
 * A profile that only makes portod's libseccomp set no_new_privs: uselib(2)
 * answers ENOSYS, as it does anyway on kernels without CONFIG_USELIB.
 */
export const NNP_ONLY: ProfileInit = {
  name: "portoshim-no-new-privs",
  defaultAction: { action: EAction.Allow },
  rules: [{ syscall: "uselib", action: { action: EAction.Errno, value: ENOSYS } }],
};

const OCI_ACTIONS: Readonly<Record<string, EAction>> = {
  SCMP_ACT_ALLOW: EAction.Allow,
  SCMP_ACT_ERRNO: EAction.Errno,
  SCMP_ACT_TRACE: EAction.Trace,
  SCMP_ACT_LOG: EAction.Log,
  SCMP_ACT_TRAP: EAction.Trap,
  SCMP_ACT_KILL: EAction.Kill,
  SCMP_ACT_KILL_THREAD: EAction.Kill,
  SCMP_ACT_KILL_PROCESS: EAction.KillProcess,
};

const OCI_OPS: Readonly<Record<string, ECompare>> = {
  SCMP_CMP_NE: ECompare.Ne,
  SCMP_CMP_LT: ECompare.Lt,
  SCMP_CMP_LE: ECompare.Le,
  SCMP_CMP_EQ: ECompare.Eq,
  SCMP_CMP_GE: ECompare.Ge,
  SCMP_CMP_GT: ECompare.Gt,
  SCMP_CMP_MASKED_EQ: ECompare.MaskedEq,
};

/**
 * An OCI seccomp profile (LinuxSeccomp JSON, what containerd reads for
 * Localhost) as a Porto profile. `field` names the CRI field in errors.
 * Rules whose action equals the default are dropped (libseccomp refuses
 * them; runc skips them too). Architectures and flags are ignored: Porto
 * filters the native architecture with default flags.
 */
export function profileFromOci(text: string, field: string): ProfileInit {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConnectError(`${field}: not JSON: ${(e as Error).message}`, Code.InvalidArgument);
  }
  if (!isObject(doc)) throw new ConnectError(`${field}: not a JSON object`, Code.InvalidArgument);
  const defaultAction = ociAction(doc.defaultAction, doc.defaultErrnoRet, `${field}: defaultAction`);
  const rules: RuleInit[] = [];
  const syscalls = doc.syscalls ?? [];
  if (!Array.isArray(syscalls)) throw new ConnectError(`${field}: syscalls is not a list`, Code.InvalidArgument);
  syscalls.forEach((sc: unknown, i: number) => {
    const where = `${field}: syscalls[${i}]`;
    if (!isObject(sc)) throw new ConnectError(`${where} is not an object`, Code.InvalidArgument);
    const action = ociAction(sc.action, sc.errnoRet, `${where}.action`);
    if (action.action === defaultAction.action && action.value === defaultAction.value) return;
    const args = ((sc.args ?? []) as unknown[]).map((a: unknown, j: number) => {
      if (!isObject(a)) throw new ConnectError(`${where}.args[${j}] is not an object`, Code.InvalidArgument);
      const compare = OCI_OPS[String(a.op)];
      if (compare === undefined) throw new ConnectError(`${where}.args[${j}].op: unknown ${JSON.stringify(a.op)}`, Code.InvalidArgument);
      if (compare === ECompare.MaskedEq && Number(a.valueTwo ?? 0) !== 0)
        throw new ConnectError(`${where}.args[${j}]: Porto compares masked values with 0 only (valueTwo must be 0)`, Code.InvalidArgument);
      return { index: BigInt(Number(a.index ?? 0)), compare, value: BigInt(Number(a.value ?? 0)) };
    });
    const names = Array.isArray(sc.names) ? sc.names : typeof sc.name === "string" ? [sc.name] : [];
    for (const name of names) {
      if (typeof name !== "string" || name === "") throw new ConnectError(`${where}.names: not a syscall name`, Code.InvalidArgument);
      rules.push({ syscall: name, args, action });
    }
  });
  return { name: field, defaultAction, rules };
}

function ociAction(action: unknown, errnoRet: unknown, field: string): { action: EAction; value?: bigint } {
  const a = OCI_ACTIONS[String(action)];
  if (a === undefined)
    throw new ConnectError(
      `${field}: ${JSON.stringify(action)} is not supported${action === "SCMP_ACT_NOTIFY" ? " (no seccomp agent on Porto)" : ""}`,
      Code.InvalidArgument,
    );
  if (a === EAction.Errno || a === EAction.Trace) return { action: a, value: errnoRet === undefined ? EPERM : BigInt(Number(errnoRet)) };
  return { action: a };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
