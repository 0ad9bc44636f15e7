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
 * Masked and read-only paths, anywhere in the container (container-paths.ts
 * says where a path comes from). Binds are Porto's only tool: runc mounts
 * a tmpfs over masked directories and remounts read-only paths in place,
 * while a Porto bind takes its source from the host's namespace. So:
 * - masked file: /dev/null bound over it ("ro", "dev": portod adds nodev
 *   otherwise and the file could not even be opened). A hard link (the
 *   lab's busybox applets) is masked alone: a bind covers a path, not an
 *   inode. Executing it fails with EACCES ("sh: ls: Permission denied");
 * - masked directory: an empty host directory (HostFacts.emptyDir) bound
 *   read-only over it;
 * - read-only path: the same object bound over itself read-only and
 *   recursive, from the host path that reaches it: `<root volume>/<path as
 *   the image resolves it>` for the root volume, `<host_path>/<rest>` under a
 *   CRI bind mount, `/proc/<x>` for a /proc file (at bind time that is the
 *   container's own procfs). These binds go in depth order with the CRI
 *   mounts (a read-only /data is bound before a mount at /data/x, which
 *   would be hidden otherwise; mount points below read-only paths are made
 *   in advance, as for a read-only root), the masks after everything.
 * Paths that do not exist are skipped, as runc skips them. What cannot be
 * done is reported in warnings:
 * - read-only /proc directories (/proc/asound, /proc/fs of kubelet's
 *   defaults): portod refuses a procfs directory as a bind source ("filesystem
 *   type is not allowed for write access": directories in system paths get a
 *   write-access check, which procfs never passes). /sys and Porto's own
 *   /proc set are read-only already;
 * - anything under /dev, /run (tmpfs portod makes at start) or an image
 *   volume: not known before the container exists;
 * - under a CRI bind mount the host path is looked at on the host, so a
 *   symlink there is followed on the host, not inside the container.
 */
import { posix } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { SecurityProfile_ProfileType } from "../../gen/runtime/v1/api_pb.js";
import type { Capability, LinuxContainerSecurityContext, SecurityProfile } from "../../gen/runtime/v1/api_pb.js";
import type { HostFacts } from "./host-facts.js";
import type { SpecFields } from "./spec-fields.js";
import { absolutePath, type BindInit } from "./mounts.js";
import { NNP_ONLY, profileFromOci, runtimeDefaultProfile, type ProfileInit } from "./seccomp.js";
import { locate, resolveInImage, type ContainerFs } from "./container-paths.js";


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
  /** Binds that make paths read-only, to be ordered by depth with the CRI mounts. */
  readonlyBinds: BindInit[];
  /** Binds that mask paths, to go after every other bind. */
  maskBinds: BindInit[];
  /** Paths of the root volume bound read-only: mount points and files portod writes below them must exist in advance. */
  readonlyRootPaths: string[];
  caps: Capabilities;
  warnings: string[];
}

/**
 * `fs` says what the container's filesystem is made of (its CRI mounts, the
 * image, where the root volume goes); without it only /proc and /sys paths
 * are masked or made read-only.
 */
export function containerSecurity(
  sc: LinuxContainerSecurityContext | undefined,
  host: HostFacts | undefined,
  fs: ContainerFs = { binds: [], volumes: [] },
): ContainerSecurity {
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

  // Privileged containers get neither, as in containerd.
  const paths = new PathRules(host, fs, warnings);
  if (!privileged) {
    (sc?.readonlyPaths ?? []).forEach((p, i) => paths.readonly(absolutePath(p, `${SC}.readonly_paths[${i}]`)));
    (sc?.maskedPaths ?? []).forEach((p, i) => paths.mask(absolutePath(p, `${SC}.masked_paths[${i}]`)));
  }
  return { spec, readonlyBinds: paths.readonlyBinds, maskBinds: paths.maskBinds, readonlyRootPaths: paths.readonlyRootPaths, caps, warnings };
}

/** Paths portod keeps read-only in every container (the whole of /sys, and these in /proc). */
export const PORTO_READONLY: readonly string[] = ["/proc/sys", "/proc/irq", "/proc/bus", "/proc/sysrq-trigger", "/sys"];

const under = (p: string, dir: string) => p === dir || p.startsWith(dir + "/");

/** Masked and read-only paths as binds (see the module comment). */
class PathRules {
  readonly readonlyBinds: BindInit[] = [];
  readonly maskBinds: BindInit[] = [];
  readonly readonlyRootPaths: string[] = [];

  constructor(
    private readonly host: HostFacts | undefined,
    private readonly fs: ContainerFs,
    private readonly warnings: string[],
  ) {}

  /** What is at `path` and how the host reaches it; undefined when missing (skipped) or unknown (warned). */
  private find(path: string, field: string): { directory: boolean; hostPath?: string; root?: boolean } | undefined {
    if (path === "/") {
      this.warnings.push(`${SC}.${field}: / cannot be bound over (readonly_rootfs makes the root read-only)`);
      return undefined;
    }
    const origin = locate(path, this.fs);
    const hostView = (hostPath: string, what: string) => {
      if (!this.host?.exists || !this.host.isDirectory) {
        this.warnings.push(`${SC}.${field}: ${path} left as it is, the host facts to check ${what} were not given`);
        return undefined;
      }
      if (!this.host.exists(hostPath)) return undefined;
      return { directory: this.host.isDirectory(hostPath), hostPath };
    };
    switch (origin.kind) {
      case "proc":
      case "sys":
        return hostView(path, "it");
      case "bind":
        return hostView(origin.hostPath, origin.hostPath);
      case "unknown":
        this.warnings.push(`${SC}.${field}: ${path} left as it is: it is in ${origin.what}, which cannot be looked at before the container starts`);
        return undefined;
      case "root": {
        if (!this.fs.image) {
          this.warnings.push(`${SC}.${field}: ${path} left as it is, the image's files could not be looked at`);
          return undefined;
        }
        const real = resolveInImage(this.fs.image, path);
        if (!real) return undefined;
        const hostPath = this.fs.rootVolumePath === undefined ? undefined : posix.join(this.fs.rootVolumePath, real.path);
        return { directory: real.directory, hostPath, root: true };
      }
    }
  }

  mask(path: string): void {
    const found = this.find(path, "masked_paths");
    if (!found) return;
    if (!found.directory) {
      this.maskBinds.push({ source: "/dev/null", target: path, flag: ["ro", "dev"] });
    } else if (this.host?.emptyDir === undefined) {
      this.warnings.push(`${SC}.masked_paths: ${path} not masked, no empty directory was given`);
    } else {
      this.maskBinds.push({ source: this.host.emptyDir, target: path, flag: ["ro"] });
    }
  }

  readonly(path: string): void {
    if (PORTO_READONLY.some((r) => under(path, r))) return;
    const found = this.find(path, "readonly_paths");
    if (!found) return;
    if (under(path, "/proc") && found.directory) {
      this.warnings.push(`${SC}.readonly_paths: ${path} cannot be made read-only: portod refuses a /proc directory as a bind source`);
      return;
    }
    if (found.hostPath === undefined) {
      this.warnings.push(`${SC}.readonly_paths: ${path} left as it is, the root volume's host path was not given`);
      return;
    }
    this.readonlyBinds.push({ source: found.hostPath, target: path, flag: found.directory ? ["ro", "rec"] : ["ro"] });
    if (found.root) this.readonlyRootPaths.push(path);
  }
}
