import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { CapabilitySchema, SecurityProfile_ProfileType } from "../../gen/runtime/v1/api_pb.js";
import { EAction } from "../../gen/seccomp_pb.js";
import type { HostFacts } from "../../src/mapping/host-facts.js";
import { NNP_ONLY, RUNTIME_DEFAULT_NAME } from "../../src/mapping/seccomp.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilities, containerSecurity, seccompChoice } from "../../src/mapping/security.js";
import type { ContainerFs, RootfsEntry } from "../../src/mapping/container-paths.js";
import type { BindInit } from "../../src/mapping/mounts.js";
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
  assert.deepEqual([plain.readonlyBinds, plain.maskBinds], [[], []]);
  const ro = containerSecurity(secctx({ readonlyRootfs: true, capabilities: { addAmbientCapabilities: ["NET_RAW"] } }), undefined);
  assert.equal(ro.spec.rootReadonly, true);
  assert.deepEqual(ro.spec.capabilitiesAmbient, { cap: ["NET_RAW"] });
  const priv = containerSecurity(
    secctx({ privileged: true, seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault }, maskedPaths: ["/proc/keys"], readonlyPaths: ["/proc/timer_list"] }),
    { exists: () => true, isDirectory: () => false },
  );
  assert.deepEqual(priv.spec, { capabilities: { cap: [...ALL_CAPABILITIES] } }, "privileged: all caps, no seccomp");
  assert.deepEqual([priv.readonlyBinds, priv.maskBinds], [[], []], "privileged: nothing masked or read-only");
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

const LAB_IMAGE: Record<string, RootfsEntry> = {
  "/bin": { type: "directory" },
  "/bin/ls": { type: "file" }, // a hard link to busybox, as in the lab's images
  "/bin/busybox": { type: "file" },
  "/etc": { type: "directory" },
  "/etc/secret": { type: "file" },
  "/tmp": { type: "directory" },
  "/var": { type: "directory" },
  "/var/tmp": { type: "symlink", target: "/tmp" },
  "/var/log": { type: "symlink", target: "../tmp" },
  "/lib": { type: "symlink", target: "/etc/../nowhere" },
};
const image = { entry: (p: string) => LAB_IMAGE[p] };
const procDirs = new Set(["/proc/acpi", "/proc/asound", "/proc/fs", "/sys/firmware", "/k/data", "/k/data/sub"]);
const hostFiles = new Set([...procDirs, "/proc/keys", "/proc/timer_list", "/k/data/f"]);
const host: HostFacts = { exists: (p) => hostFiles.has(p), isDirectory: (p) => procDirs.has(p), emptyDir: "/v/.empty-dir" };
const fs: ContainerFs = { image, rootVolumePath: "/v/ctr", binds: [{ target: "/data", source: "/k/data" }], volumes: ["/models"] };

test("masked paths, anywhere: /dev/null on files, the empty directory on directories, missing ones skipped", () => {
  const table: [string, string, BindInit | undefined][] = [
    ["a /proc file (host view)", "/proc/keys", { source: "/dev/null", target: "/proc/keys", flag: ["ro", "dev"] }],
    ["a /proc directory", "/proc/acpi", { source: "/v/.empty-dir", target: "/proc/acpi", flag: ["ro"] }],
    ["a /sys directory", "/sys/firmware", { source: "/v/.empty-dir", target: "/sys/firmware", flag: ["ro"] }],
    ["missing on the host: skipped as runc skips it", "/proc/kcore", undefined],
    ["a file of the image: a hard link is masked alone", "/bin/ls", { source: "/dev/null", target: "/bin/ls", flag: ["ro", "dev"] }],
    ["a directory of the image", "/etc", { source: "/v/.empty-dir", target: "/etc", flag: ["ro"] }],
    ["through a symlink of the image: its type inside the image", "/var/tmp", { source: "/v/.empty-dir", target: "/var/tmp", flag: ["ro"] }],
    ["missing in the image", "/bin/nope", undefined],
    ["a dangling symlink", "/lib", undefined],
    ["below a file", "/etc/secret/x", undefined],
    ["under a CRI mount: the host's file", "/data/f", { source: "/dev/null", target: "/data/f", flag: ["ro", "dev"] }],
    ["a CRI mount itself", "/data", { source: "/v/.empty-dir", target: "/data", flag: ["ro"] }],
    ["not normalized", "/bin//ls/", { source: "/dev/null", target: "/bin/ls", flag: ["ro", "dev"] }],
  ];
  for (const [name, path, want] of table) {
    const r = containerSecurity(secctx({ maskedPaths: [path] }), host, fs);
    assert.deepEqual(r.maskBinds, want ? [want] : [], name);
    assert.deepEqual([r.readonlyBinds, r.warnings], [[], []], name);
  }
});

test("read-only paths, anywhere: bound over themselves read-only from the host path that reaches them", () => {
  const table: [string, string, BindInit | undefined, string?][] = [
    ["the lab's /tmp: the root volume's copy, recursive", "/tmp", { source: "/v/ctr/tmp", target: "/tmp", flag: ["ro", "rec"] }],
    ["a file of the image", "/etc/secret", { source: "/v/ctr/etc/secret", target: "/etc/secret", flag: ["ro"] }],
    ["an image symlink: the host source is its real path, never the host's view of the link", "/var/tmp", { source: "/v/ctr/tmp", target: "/var/tmp", flag: ["ro", "rec"] }],
    ["a relative symlink, resolved inside the image", "/var/log", { source: "/v/ctr/tmp", target: "/var/log", flag: ["ro", "rec"] }],
    ["missing in the image: skipped", "/srv", undefined],
    ["under a CRI mount: its host path", "/data/sub", { source: "/k/data/sub", target: "/data/sub", flag: ["ro", "rec"] }],
    ["a /proc file: the container's own procfs at bind time", "/proc/timer_list", { source: "/proc/timer_list", target: "/proc/timer_list", flag: ["ro"] }],
    ["Porto's own read-only /proc set", "/proc/sys/kernel", undefined],
    ["all of /sys is read-only already", "/sys/fs", undefined],
    ["a /proc directory: refused by portod as a bind source", "/proc/fs", undefined, "/proc/fs cannot be made read-only: portod refuses a /proc directory as a bind source"],
    ["/dev is portod's tmpfs", "/dev/shm", undefined, "/dev/shm left as it is: it is in portod's /dev"],
    ["an image volume", "/models/a", undefined, "/models/a left as it is: it is in the image volume at /models"],
    ["the root", "/", undefined, "/ cannot be bound over"],
  ];
  for (const [name, path, want, warning] of table) {
    const r = containerSecurity(secctx({ readonlyPaths: [path] }), host, fs);
    assert.deepEqual(r.readonlyBinds, want ? [want] : [], name);
    assert.deepEqual(r.maskBinds, [], name);
    if (warning) assert.match(r.warnings.join("\n"), new RegExp(warning.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")), name);
    else assert.deepEqual(r.warnings, [], name);
  }
  const both = containerSecurity(secctx({ readonlyPaths: ["/tmp", "/data/sub", "/proc/timer_list"] }), host, fs);
  assert.deepEqual(both.readonlyRootPaths, ["/tmp"], "only root volume paths need their mount points made in advance");
});

test("masked and read-only paths without the facts to place them are reported, not guessed", () => {
  const blind = containerSecurity(secctx({ maskedPaths: ["/proc/keys", "/bin/ls"], readonlyPaths: ["/tmp"] }), undefined);
  assert.deepEqual([blind.maskBinds, blind.readonlyBinds], [[], []]);
  assert.deepEqual(blind.warnings, [
    "linux.security_context.readonly_paths: /tmp left as it is, the image's files could not be looked at",
    "linux.security_context.masked_paths: /proc/keys left as it is, the host facts to check it were not given",
    "linux.security_context.masked_paths: /bin/ls left as it is, the image's files could not be looked at",
  ]);
  const noRoot = containerSecurity(secctx({ readonlyPaths: ["/tmp"] }), host, { ...fs, rootVolumePath: undefined });
  assert.deepEqual(noRoot.readonlyBinds, []);
  assert.match(noRoot.warnings[0], /root volume's host path was not given/);
  const noDir = containerSecurity(secctx({ maskedPaths: ["/proc/acpi"] }), { ...host, emptyDir: undefined });
  assert.deepEqual(noDir.maskBinds, []);
  assert.match(noDir.warnings[0], /no empty directory/);
  throwsCode(() => containerSecurity(secctx({ maskedPaths: ["tmp"] }), host, fs), Code.InvalidArgument, "masked_paths[0]");
});
