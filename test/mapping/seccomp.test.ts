import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { EAction, ECompare } from "../../gen/seccomp_pb.js";
import { NNP_ONLY, profileFromOci, runtimeDefaultProfile } from "../../src/mapping/seccomp.js";
import { DEFAULT_CAPABILITIES } from "../../src/mapping/security.js";
import { throwsCode } from "./helpers.js";

const refused = (caps: readonly string[]) =>
  new Map(runtimeDefaultProfile(caps).rules!.map((r) => [r.syscall as string, r] as const));

test("RuntimeDefault: allow by default, EPERM for what Docker's profile refuses", () => {
  const p = runtimeDefaultProfile(DEFAULT_CAPABILITIES);
  assert.deepEqual(p.defaultAction, { action: EAction.Allow });
  const rules = refused(DEFAULT_CAPABILITIES);
  for (const s of ["mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "perf_event_open", "reboot", "kexec_load", "init_module"])
    assert.deepEqual(rules.get(s)?.action, { action: EAction.Errno, value: 1n }, s);
  for (const s of ["read", "write", "execve", "ptrace", "chroot", "personality"]) assert.equal(rules.has(s), false, s);
  assert.deepEqual(rules.get("clone3")?.action, { action: EAction.Errno, value: 38n }, "clone3 answers ENOSYS so libc falls back to clone");
  assert.deepEqual(rules.get("clone")?.args, [{ index: 0n, compare: ECompare.Ge, value: 0x0200_0000n }]);
  assert.deepEqual(rules.get("socket")?.args, [{ index: 0n, compare: ECompare.Eq, value: 40n }]);
});

test("RuntimeDefault: capabilities lift their syscalls, as in Docker's profile", () => {
  const table: [string, string[]][] = [
    ["SYS_ADMIN", ["mount", "umount2", "unshare", "setns", "sethostname", "clone", "clone3", "bpf", "perf_event_open"]],
    ["SYS_TIME", ["settimeofday", "clock_settime", "clock_adjtime"]],
    ["SYS_MODULE", ["init_module", "finit_module", "delete_module"]],
    ["SYS_BOOT", ["reboot", "kexec_load"]],
    ["SYS_PTRACE", ["userfaultfd"]],
    ["BPF", ["bpf"]],
    ["PERFMON", ["perf_event_open"]],
    ["SYSLOG", ["syslog"]],
    ["DAC_READ_SEARCH", ["open_by_handle_at"]],
  ];
  for (const [cap, syscalls] of table) {
    const rules = refused([...DEFAULT_CAPABILITIES, cap]);
    for (const s of syscalls) assert.equal(rules.has(s), false, `${cap} ${s}`);
  }
  const withAdmin = refused([...DEFAULT_CAPABILITIES, "SYS_ADMIN"]);
  for (const s of ["keyctl", "socket", "reboot"]) assert.equal(withAdmin.has(s), true, `SYS_ADMIN does not lift ${s}`);
});

test("RuntimeDefault uses only syscall names libseccomp knows on x86-64 (portod refuses others)", () => {
  // Checked one by one against portod 5.3.59 + libseccomp 2.5.4; "umount" and "stime" are not x86-64 calls.
  for (const r of runtimeDefaultProfile([]).rules!) assert.ok(!["umount", "stime", "set_mempolicy_home_node"].includes(r.syscall as string), r.syscall as string);
});

test("NNP_ONLY is a non-empty filter that changes nothing real", () => {
  assert.deepEqual(NNP_ONLY.rules, [{ syscall: "uselib", action: { action: EAction.Errno, value: 38n } }]);
});

test("Localhost OCI profiles convert; rules equal to the default are dropped", () => {
  const p = profileFromOci(
    JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      defaultErrnoRet: 1,
      architectures: ["SCMP_ARCH_X86_64"],
      syscalls: [
        { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
        { names: ["kill"], action: "SCMP_ACT_ERRNO" },
        { names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
        { names: ["personality"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 8, op: "SCMP_CMP_EQ" }] },
        { names: ["clone"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 2114060288, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }] },
        { names: ["ptrace"], action: "SCMP_ACT_KILL_PROCESS" },
        { names: ["reboot"], action: "SCMP_ACT_KILL" },
        { names: ["uname"], action: "SCMP_ACT_LOG" },
      ],
    }),
    "f",
  );
  assert.deepEqual(p.defaultAction, { action: EAction.Errno, value: 1n });
  assert.deepEqual(
    p.rules!.map((r) => [r.syscall, r.action, r.args]),
    [
      ["read", { action: EAction.Allow }, []],
      ["write", { action: EAction.Allow }, []],
      ["mkdir", { action: EAction.Errno, value: 13n }, []],
      ["personality", { action: EAction.Allow }, [{ index: 0n, compare: ECompare.Eq, value: 8n }]],
      ["clone", { action: EAction.Allow }, [{ index: 0n, compare: ECompare.MaskedEq, value: 2114060288n }]],
      ["ptrace", { action: EAction.KillProcess }, []],
      ["reboot", { action: EAction.Kill }, []],
      ["uname", { action: EAction.Log }, []],
    ],
  );
});

test("Localhost profile errors name the field", () => {
  const t = (text: string, frag: string) => throwsCode(() => profileFromOci(text, "seccomp (/p.json)"), Code.InvalidArgument, frag);
  t("{", "seccomp (/p.json): not JSON");
  t("[]", "not a JSON object");
  t(JSON.stringify({ defaultAction: "SCMP_ACT_NOTIFY" }), "no seccomp agent");
  t(JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: {} }), "syscalls is not a list");
  t(JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_BOGUS" }] }), "syscalls[0].action");
  t(JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, op: "SCMP_CMP_MASKED_EQ", value: 3, valueTwo: 1 }] }] }), "valueTwo must be 0");
  t(JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, op: "SCMP_CMP_WHAT" }] }] }), "args[0].op");
});
