import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { CapabilitySchema, SecurityProfile_ProfileType } from "../../gen/runtime/v1/api_pb.js";
import { EAction } from "../../gen/seccomp_pb.js";
import type { HostFacts } from "../../src/mapping/host-facts.js";
import { NNP_ONLY, RUNTIME_DEFAULT_NAME } from "../../src/mapping/seccomp.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilities, containerSecurity, seccompChoice } from "../../src/mapping/security.js";
import { secctx, throwsCode } from "./helpers.js";

const cap = (add: string[] = [], drop: string[] = [], ambient: string[] = []) =>
  create(CapabilitySchema, { addCapabilities: add, dropCapabilities: drop, addAmbientCapabilities: ambient });
const sorted = (caps: readonly string[]) => ALL_CAPABILITIES.filter((c) => caps.includes(c));

test("the capability tables: 41 known, Docker's 14 by default (CapEff a80425fb)", () => {
  assert.equal(ALL_CAPABILITIES.length, 41);
  const mask = DEFAULT_CAPABILITIES.reduce((m, c) => m | (1n << BigInt(ALL_CAPABILITIES.indexOf(c))), 0n);
  assert.equal(mask.toString(16), "a80425fb");
});

test("capabilities add/drop in containerd's order", () => {
  const table: [string, ReturnType<typeof cap> | undefined, boolean, string[]][] = [
    ["default", undefined, false, [...DEFAULT_CAPABILITIES]],
    ["privileged: all", undefined, true, [...ALL_CAPABILITIES]],
    ["add one, drop one", cap(["NET_ADMIN"], ["KILL"]), false, [...DEFAULT_CAPABILITIES.filter((c) => c !== "KILL"), "NET_ADMIN"]],
    ["names in any case, CAP_ prefix accepted", cap(["net_admin", "CAP_SYS_TIME"]), false, [...DEFAULT_CAPABILITIES, "NET_ADMIN", "SYS_TIME"]],
    ["drop ALL", cap([], ["ALL"]), false, []],
    ["drop ALL then add: only the adds", cap(["CHOWN", "NET_BIND_SERVICE"], ["all"]), false, ["CHOWN", "NET_BIND_SERVICE"]],
    ["add ALL then drop: all but the drops", cap(["ALL"], ["SYS_ADMIN"]), false, ALL_CAPABILITIES.filter((c) => c !== "SYS_ADMIN")],
    ["add and drop the same: dropped", cap(["SYS_ADMIN"], ["SYS_ADMIN"]), false, [...DEFAULT_CAPABILITIES]],
    ["privileged with drops", cap([], ["SYS_ADMIN"]), true, ALL_CAPABILITIES.filter((c) => c !== "SYS_ADMIN")],
  ];
  for (const [name, c, privileged, want] of table) {
    assert.deepEqual(capabilities(c, privileged), { bounding: sorted(want), ambient: [] }, name);
  }
});

test("ambient capabilities are in both sets", () => {
  assert.deepEqual(capabilities(cap([], ["ALL"], ["net_bind_service"]), false), { bounding: ["NET_BIND_SERVICE"], ambient: ["NET_BIND_SERVICE"] });
});

test("unknown capabilities are InvalidArgument naming the entry", () => {
  throwsCode(() => capabilities(cap(["CHOWN", "FLY"]), false), Code.InvalidArgument, "capabilities.add_capabilities[1]");
  throwsCode(() => capabilities(cap([], ["NOPE"]), false), Code.InvalidArgument, "capabilities.drop_capabilities[0]");
  throwsCode(() => capabilities(cap([], [], ["X"]), false), Code.InvalidArgument, "add_ambient_capabilities[0]");
});

test("seccomp choice: the message wins over the deprecated path; nothing is unconfined", () => {
  const P = SecurityProfile_ProfileType;
  const prof = (profileType: SecurityProfile_ProfileType, localhostRef = "") => secctx({ seccomp: { profileType, localhostRef } }).seccomp;
  const table: [string, ReturnType<typeof prof>, string, ReturnType<typeof seccompChoice>][] = [
    ["nothing", undefined, "", { kind: "unconfined" }],
    ["RuntimeDefault", prof(P.RuntimeDefault), "unconfined", { kind: "runtime-default" }],
    ["Unconfined", prof(P.Unconfined), "runtime/default", { kind: "unconfined" }],
    ["Localhost", prof(P.Localhost, "/var/lib/kubelet/seccomp/p.json"), "", { kind: "localhost", path: "/var/lib/kubelet/seccomp/p.json" }],
    ["path runtime/default", undefined, "runtime/default", { kind: "runtime-default" }],
    ["path docker/default", undefined, "docker/default", { kind: "runtime-default" }],
    ["path unconfined", undefined, "unconfined", { kind: "unconfined" }],
    ["path localhost/<absolute path>", undefined, "localhost//p.json", { kind: "localhost", path: "/p.json" }],
  ];
  for (const [name, profile, path, want] of table) assert.deepEqual(seccompChoice(profile, path, "sc"), want, name);
  throwsCode(() => seccompChoice(prof(P.Localhost, "rel.json"), "", "sc"), Code.InvalidArgument, "sc.seccomp.localhost_ref");
  throwsCode(() => seccompChoice(undefined, "bogus", "sc"), Code.InvalidArgument, "sc.seccomp_profile_path");
  throwsCode(() => seccompChoice(undefined, "localhost/rel.json", "sc"), Code.InvalidArgument, "sc.seccomp_profile_path");
});

test("containerSecurity: defaults, read-only root, privileged", () => {
  const plain = containerSecurity(undefined, undefined);
  assert.deepEqual(plain.spec, { capabilities: { cap: sorted(DEFAULT_CAPABILITIES) } });
  assert.deepEqual(plain.binds, []);
  const ro = containerSecurity(secctx({ readonlyRootfs: true, capabilities: { addAmbientCapabilities: ["NET_RAW"] } }), undefined);
  assert.equal(ro.spec.rootReadonly, true);
  assert.deepEqual(ro.spec.capabilitiesAmbient, { cap: ["NET_RAW"] });
  const priv = containerSecurity(secctx({ privileged: true, seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault }, maskedPaths: ["/proc/keys"] }), { exists: () => true, isDirectory: () => false });
  assert.deepEqual(priv.spec, { capabilities: { cap: [...ALL_CAPABILITIES] } }, "privileged: all caps, no seccomp");
  assert.deepEqual(priv.binds, [], "privileged: nothing masked");
});

test("containerSecurity: seccomp and no_new_privs", () => {
  const rd = containerSecurity(secctx({ seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }), undefined);
  assert.equal(rd.spec.seccomp?.name, RUNTIME_DEFAULT_NAME);
  assert.match(rd.warnings.join(), /no_new_privs: false/);
  const rdAdmin = containerSecurity(secctx({ seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault }, capabilities: { addCapabilities: ["SYS_ADMIN"] } }), undefined);
  assert.ok(!rdAdmin.spec.seccomp!.rules!.some((r) => r.syscall === "mount"), "the profile follows the container's capabilities");
  const nnp = containerSecurity(secctx({ noNewPrivs: true }), undefined);
  assert.deepEqual(nnp.spec.seccomp, NNP_ONLY);
  assert.deepEqual(nnp.warnings, []);
  const nnpRd = containerSecurity(secctx({ noNewPrivs: true, seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } }), undefined);
  assert.equal(nnpRd.spec.seccomp?.name, RUNTIME_DEFAULT_NAME);
  assert.deepEqual(nnpRd.warnings, []);
  const unconfined = containerSecurity(secctx({ seccomp: { profileType: SecurityProfile_ProfileType.Unconfined } }), undefined);
  assert.equal(unconfined.spec.seccomp, undefined);
});

test("containerSecurity: Localhost profiles are read through the host facts", () => {
  const files: Record<string, string> = {
    "/p/ok.json": JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }] }),
    "/p/allow.json": JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW" }),
  };
  const host: HostFacts = { readFile: (p) => files[p] };
  const sc = (ref: string, noNewPrivs = false) => secctx({ noNewPrivs, seccomp: { profileType: SecurityProfile_ProfileType.Localhost, localhostRef: ref } });
  assert.deepEqual(containerSecurity(sc("/p/ok.json"), host).spec.seccomp?.rules, [{ syscall: "mkdir", args: [], action: { action: EAction.Errno, value: 1n } }]);
  assert.equal(containerSecurity(sc("/p/allow.json"), host).spec.seccomp, undefined, "an allow-all profile is no filter");
  assert.deepEqual(containerSecurity(sc("/p/allow.json", true), host).spec.seccomp, NNP_ONLY);
  throwsCode(() => containerSecurity(sc("/p/missing.json"), host), Code.InvalidArgument, "cannot read profile /p/missing.json");
  throwsCode(() => containerSecurity(sc("/p/ok.json"), undefined), Code.InvalidArgument, "cannot read profile");
});

test("masked paths: /dev/null on files, the empty directory on directories, missing ones skipped", () => {
  const dirs = new Set(["/proc/acpi", "/sys/firmware"]);
  const present = new Set(["/proc/keys", "/proc/kcore", "/proc/acpi", "/sys/firmware"]);
  const host: HostFacts = { exists: (p) => present.has(p), isDirectory: (p) => dirs.has(p), emptyDir: "/var/lib/portoshim/empty" };
  const r = containerSecurity(
    secctx({ maskedPaths: ["/proc/keys", "/proc/acpi", "/proc/asound", "/sys/firmware", "/etc/secret"], readonlyPaths: ["/proc/sys", "/proc/fs", "/proc/irq"] }),
    host,
  );
  assert.deepEqual(r.binds, [
    { source: "/dev/null", target: "/proc/keys", flag: ["ro", "dev"] },
    { source: "/var/lib/portoshim/empty", target: "/proc/acpi", flag: ["ro"] },
    { source: "/var/lib/portoshim/empty", target: "/sys/firmware", flag: ["ro"] },
  ]);
  assert.deepEqual(r.warnings, [
    "linux.security_context.masked_paths: /etc/secret is outside /proc and /sys, not masked",
    "linux.security_context.readonly_paths: /proc/fs cannot be made read-only by Porto",
  ]);
  const blind = containerSecurity(secctx({ maskedPaths: ["/proc/keys"] }), undefined);
  assert.deepEqual(blind.binds, []);
  assert.match(blind.warnings[0], /host facts/);
  const noDir = containerSecurity(secctx({ maskedPaths: ["/proc/acpi"] }), { ...host, emptyDir: undefined });
  assert.deepEqual(noDir.binds, []);
  assert.match(noDir.warnings[0], /no empty directory/);
});
