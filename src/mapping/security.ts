/**
 * A container's security context on Porto: capabilities, privileged, read-only
 * root, no_new_privs, seccomp (seccomp.ts), masked and read-only paths.
 *
 * Capabilities: Porto's `capabilities` is the bounding set; root (uid 0) gets
 * it as its effective set, other users get only `capabilities_ambient` (as
 * with runc, where a non-root user's sets empty at exec). The pod (level 1)
 * also bounds its children, so podSpec gives the pod every capability and
 * each container narrows its own. Default: Docker's 14 (Porto's own default
 * differs: it adds NET_ADMIN, IPC_LOCK and SYS_PTRACE).
 *
 * What portod always does, whatever CRI asks (checked on 5.3.59):
 * - /proc/sys, /proc/irq, /proc/bus, /proc/sysrq-trigger are read-only and
 *   /proc/kcore is /dev/null; /sys is mounted read-only: so no container,
 *   privileged or not, has global /proc/sys or /sys write access (privileged
 *   containers under Docker would). Namespaced sysctls go through `sysctl`.
 * - the Porto socket is not bound into a container with enable_porto=false,
 *   and portod refuses requests from processes of such containers even if
 *   they reach the socket another way (client.cpp: "Porto disabled").
 *
 * Masked paths are bound over: /dev/null on files, an empty host directory on
 * directories (runc mounts a tmpfs; Porto binds only). Binds come from the
 * host's namespace, so only /proc and /sys paths are handled, whose host view
 * tells whether the container's exists and is a directory; paths missing on
 * the host are skipped as runc skips them. Read-only paths beyond Porto's own
 * set cannot be done: a bind's source must be a host path, and portod refuses
 * procfs and sysfs sources for writable checks; they are reported in warnings.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { SecurityProfile_ProfileType } from "../../gen/runtime/v1/api_pb.js";
import type { Capability, LinuxContainerSecurityContext, SecurityProfile } from "../../gen/runtime/v1/api_pb.js";
import type { HostFacts } from "./host-facts.js";
import type { SpecFields } from "./spec-fields.js";
import type { BindInit } from "./mounts.js";
import { NNP_ONLY, profileFromOci, runtimeDefaultProfile, type ProfileInit } from "./seccomp.js";


/** Every capability of Linux 5.9+ (cap_last_cap 40), in bit order, as Porto names them. */
export const ALL_CAPABILITIES: readonly string[] = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
]; // prettier-ignore

/** Docker's and containerd's default set (bounding = effective for root): CapEff a80425fb. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
  "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
]; // prettier-ignore

const KNOWN = new Set(ALL_CAPABILITIES);
const SC = "linux.security_context";

/** A capability name from CRI ("net_admin", "NET_ADMIN", "CAP_NET_ADMIN") as Porto's name. */
function capName(name: string, field: string): string {
  let n = name.toUpperCase();
  if (n.startsWith("CAP_")) n = n.slice(4);
  if (!KNOWN.has(n)) throw new ConnectError(`${field}: unknown capability ${JSON.stringify(name)}`, Code.InvalidArgument);
  return n;
}

export interface Capabilities {
  /** Porto `capabilities`: the bounding set, and what root has. */
  bounding: string[];
  /** Porto `capabilities_ambient`: what a non-root user keeps too. */
  ambient: string[];
}

/**
 * containerd's order: start from the default set (all when privileged), add
 * ALL, drop ALL, then the named adds, then the named drops; ambient ones are
 * added to every set.
 */
export function capabilities(cap: Capability | undefined, privileged: boolean): Capabilities {
  const set = new Set(privileged ? ALL_CAPABILITIES : DEFAULT_CAPABILITIES);
  const isAll = (c: string) => c.toUpperCase() === "ALL";
  const add = cap?.addCapabilities ?? [];
  const drop = cap?.dropCapabilities ?? [];
  if (add.some(isAll)) for (const c of ALL_CAPABILITIES) set.add(c);
  if (drop.some(isAll)) set.clear();
  add.forEach((c, i) => isAll(c) || set.add(capName(c, `${SC}.capabilities.add_capabilities[${i}]`)));
  drop.forEach((c, i) => isAll(c) || set.delete(capName(c, `${SC}.capabilities.drop_capabilities[${i}]`)));
  const ambient = (cap?.addAmbientCapabilities ?? []).map((c, i) => capName(c, `${SC}.capabilities.add_ambient_capabilities[${i}]`));
  for (const c of ambient) set.add(c);
  // Porto prints sets in bit order; keep ours the same so specs compare equal.
  return { bounding: ALL_CAPABILITIES.filter((c) => set.has(c)), ambient: ALL_CAPABILITIES.filter((c) => ambient.includes(c)) };
}

export type SeccompChoice = { kind: "unconfined" } | { kind: "runtime-default" } | { kind: "localhost"; path: string };

/** Which profile CRI asks for: `seccomp` wins over the deprecated path; nothing means unconfined (containerd). */
export function seccompChoice(profile: SecurityProfile | undefined, legacyPath: string, field: string): SeccompChoice {
  if (profile) {
    switch (profile.profileType) {
      case SecurityProfile_ProfileType.RuntimeDefault:
        return { kind: "runtime-default" };
      case SecurityProfile_ProfileType.Unconfined:
        return { kind: "unconfined" };
      case SecurityProfile_ProfileType.Localhost:
        if (!profile.localhostRef.startsWith("/"))
          throw new ConnectError(`${field}.seccomp.localhost_ref: ${JSON.stringify(profile.localhostRef)} is not an absolute path`, Code.InvalidArgument);
        return { kind: "localhost", path: profile.localhostRef };
      default:
        throw new ConnectError(`${field}.seccomp.profile_type: unknown ${profile.profileType}`, Code.InvalidArgument);
    }
  }
  if (legacyPath === "" || legacyPath === "unconfined") return { kind: "unconfined" };
  if (legacyPath === "runtime/default" || legacyPath === "docker/default") return { kind: "runtime-default" };
  if (legacyPath.startsWith("localhost/")) {
    // "localhost/" + an absolute path, as kubelet wrote it: "localhost//var/lib/kubelet/seccomp/p.json".
    const path = legacyPath.slice("localhost/".length);
    if (!path.startsWith("/"))
      throw new ConnectError(`${field}.seccomp_profile_path: ${JSON.stringify(legacyPath)} does not name an absolute path`, Code.InvalidArgument);
    return { kind: "localhost", path };
  }
  throw new ConnectError(`${field}.seccomp_profile_path: unknown ${JSON.stringify(legacyPath)}`, Code.InvalidArgument);
}

export interface ContainerSecurity {
  /** capabilities, capabilities_ambient, root_readonly, seccomp. */
  spec: SpecFields;
  /** Binds that mask paths. */
  binds: BindInit[];
  caps: Capabilities;
  warnings: string[];
}

export function containerSecurity(sc: LinuxContainerSecurityContext | undefined, host: HostFacts | undefined): ContainerSecurity {
  const privileged = sc?.privileged ?? false;
  const caps = capabilities(sc?.capabilities, privileged);
  const spec: SpecFields = { capabilities: { cap: caps.bounding } };
  if (caps.ambient.length > 0) spec.capabilitiesAmbient = { cap: caps.ambient };
  if (sc?.readonlyRootfs) spec.rootReadonly = true;
  const warnings: string[] = [];

  // Privileged containers run unconfined, as in containerd.
  const choice: SeccompChoice = privileged ? { kind: "unconfined" } : seccompChoice(sc?.seccomp, sc?.seccompProfilePath ?? "", SC);
  let profile: ProfileInit | undefined;
  if (choice.kind === "runtime-default") profile = runtimeDefaultProfile(caps.bounding);
  else if (choice.kind === "localhost") {
    const text = host?.readFile?.(choice.path);
    if (text === undefined)
      throw new ConnectError(`${SC}.seccomp.localhost_ref: cannot read profile ${choice.path}`, Code.InvalidArgument);
    profile = profileFromOci(text, `${SC}.seccomp (${choice.path})`);
  }
  const hasFilter = (profile?.rules?.length ?? 0) > 0 || (profile?.defaultAction?.action ?? 0) !== 0;
  if (sc?.noNewPrivs && !hasFilter) profile = NNP_ONLY;
  else if (!sc?.noNewPrivs && hasFilter) warnings.push(`${SC}.no_new_privs: false, but Porto's seccomp filter sets no_new_privs`);
  if (profile && ((profile.rules?.length ?? 0) > 0 || (profile.defaultAction?.action ?? 0) !== 0)) spec.seccomp = profile;

  const binds = privileged ? [] : maskBinds(sc?.maskedPaths ?? [], host, warnings);
  for (const p of privileged ? [] : (sc?.readonlyPaths ?? [])) {
    if (!PORTO_READONLY.includes(p)) warnings.push(`${SC}.readonly_paths: ${p} cannot be made read-only by Porto`);
  }
  return { spec, binds, caps, warnings };
}

/** Paths portod keeps read-only in every container. */
export const PORTO_READONLY: readonly string[] = ["/proc/sys", "/proc/irq", "/proc/bus", "/proc/sysrq-trigger", "/sys"];

function maskBinds(paths: readonly string[], host: HostFacts | undefined, warnings: string[]): BindInit[] {
  const binds: BindInit[] = [];
  for (const p of paths) {
    if (!p.startsWith("/proc/") && !p.startsWith("/sys/")) {
      warnings.push(`${SC}.masked_paths: ${p} is outside /proc and /sys, not masked`);
      continue;
    }
    if (!host?.exists || !host.isDirectory) {
      warnings.push(`${SC}.masked_paths: ${p} not masked, the host facts to check it were not given`);
      continue;
    }
    if (!host.exists(p)) continue;
    if (host.isDirectory(p)) {
      if (host.emptyDir === undefined) warnings.push(`${SC}.masked_paths: ${p} not masked, no empty directory was given`);
      else binds.push({ source: host.emptyDir, target: p, flag: ["ro"] });
    } else {
      // "dev" lets /dev/null work there (Porto adds nodev otherwise, and the file could not be opened at all).
      binds.push({ source: "/dev/null", target: p, flag: ["ro", "dev"] });
    }
  }
  return binds;
}
