/**
 * A CRI container as a Porto container plus its volumes: the composition of
 * process.ts, user.ts, mounts.ts, resources.ts, security.ts and signals.ts.
 *
 * Signature note for the lifecycle (additions to the agreed interface, all
 * optional or extra, nothing removed):
 * - input `host` (HostFacts), `minOomScoreAdj`, `rootVolumePath`, `resolvConf`;
 * - result `user.additionalGids`, `podDevices`, `warnings`.
 * Before CreateFromSpec, merge `podDevices` into the pod (UpdateFromSpec
 * {name: pod, devices: podDevices}) when it is set: Porto refuses a child's
 * devices its parent does not allow.
 *
 * Where the ContainerConfig fields go:
 *   command, args, image Entrypoint/Cmd   command_argv (exact argv, no shell)
 *   envs, image Env                       env (+HOSTNAME, HOME; Porto's USER and container unset)
 *   working_dir, image WorkingDir         cwd (created in the root volume if the image lacks it)
 *   image                                 root volume: overlay built by portod from the image,
 *                                         linked as the container's root (container_root)
 *   mounts                                bind, or volumes for image mounts
 *   devices                               devices (and podDevices for the pod)
 *   linux.resources                       cpu_guarantee, cpu_limit, cpu_period, cpu_set,
 *                                         memory_limit, oom_score_adj, hugetlb_limit
 *   linux.security_context                user, group, capabilities(_ambient), root_readonly,
 *                                         seccomp, masking binds, isolate (namespaces)
 *   stop_signal, image StopSignal         result stopSignal (the lifecycle sends it)
 *   tty                                   TERM=xterm in env; the terminal itself is StartContainer's
 *   metadata, labels, annotations, log_path, stdin, stdin_once
 *                                         the lifecycle's records and streams, not here
 * Always: enable_porto=false, weak=false, aging_time "forever", stdout_limit for the
 * CRI log pump (stdout_path/stderr_path left to portod; see src/logs/porto-stdio.ts), umask 022 (runc's;
 * Porto's default is 002), oom_is_fatal=false (an OOM kill takes one task, as with
 * runc; the lifecycle tells OOMKilled from oom_kills), the pod's hostname and
 * resolv.conf written in the container's root.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { TContainerDevicesSchema, TContainerSpecSchema, TVolumeSpecSchema } from "../../gen/rpc_pb.js";
import type { ContainerConfig, PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import type { HostFacts } from "./host-facts.js";
import type { ImageRuntimeConfig } from "./image-runtime.js";
import { containerDevices, containerMounts, podDeviceGrant, type BindInit, type MountPoint } from "./mounts.js";
import { containerIsolate } from "./namespaces.js";
import { AGING_TIME_FOREVER, IPC_SYSCTLS, normalizeSysctlName, resolvConfText } from "./pod-spec.js";
import { containerPortoName } from "./porto-names.js";
import { shimLabels } from "./porto-labels.js";
import { portoEnv, processArgs, processEnv, workingDir } from "./process.js";
import { resourcesSpec } from "./resources.js";
import { containerSecurity } from "./security.js";
import type { ContainerFs, RootfsEntry } from "./container-paths.js";
import { stopSignal } from "./signals.js";
import { stdioSpec } from "../logs/porto-stdio.js";
import { resolveUser } from "./user.js";
import type { SpecFields } from "./spec-fields.js";

type SpecInit = MessageInitShape<typeof TContainerSpecSchema>;
type VolumeInit = MessageInitShape<typeof TVolumeSpecSchema>;

/**
 * Porto's typed `umask` carries the octal digits as a decimal number: portod
 * parses String(umask) as octal (TUmask::Load), so 022 is sent as 22 (0o22
 * = 18 is refused: "Bad base-8 value: 18"; seen on 5.3.59).
 */
export const UMASK_022 = 22;

export interface ContainerSpecInput {
  podId: string;
  containerId: string;
  pod: PodSandboxConfig;
  container: ContainerConfig;
  image: ImageRuntimeConfig;
  /** What Porto knows the image as, for the root volume. */
  imageName: string;
  /** The image's root filesystem as the caller sees it (e.g. its layers). */
  rootfs?: {
    /** Whether a path (absolute, inside the image) exists. */
    exists(path: string): boolean;
    /**
     * The entry at a path whose parents are real directories, a final symlink
     * not followed (container-paths.ts follows links inside the image); needed
     * for masked and read-only paths in the root volume.
     */
    entry?(path: string): RootfsEntry | undefined;
    /** The image's /etc/passwd and /etc/group text, when it has them. */
    passwd?: string;
    group?: string;
  };
  /** Host facts for devices, masked paths, read-only roots and Localhost seccomp profiles. */
  host?: HostFacts;
  /** Lowest oom_score_adj portod can set here (0 where root lacks CAP_SYS_RESOURCE); default 0. */
  minOomScoreAdj?: number;
  /** Where to put the root volume (the caller creates the directory); default: portod chooses. */
  rootVolumePath?: string;
  /** resolv.conf text instead of the pod's dns_config (as given to podSpec). */
  resolvConf?: string;
}

export interface ContainerSpecResult {
  spec: SpecInit;
  /** The root volume first, then image volumes. */
  volumes: VolumeInit[];
  /** Linux signal number StopContainer sends first. */
  stopSignal: number;
  user: { uid: number; gid: number; username?: string; additionalGids: number[] };
  /** Devices to merge into the pod before creating the container; undefined when none. */
  podDevices?: MessageInitShape<typeof TContainerDevicesSchema>;
  /** What was asked but could not be applied on Porto, for the log. */
  warnings: string[];
}

export function containerSpec(input: ContainerSpecInput): ContainerSpecResult {
  const { container: c, pod, image } = input;
  const name = containerPortoName(input.podId, input.containerId);
  const sc = c.linux?.securityContext;
  const warnings: string[] = [];

  const argv = processArgs(c.command, c.args, image);
  const cwd = workingDir(c.workingDir, image);
  const user = resolveUser({ securityContext: sc, imageUser: image.user, passwd: input.rootfs?.passwd, group: input.rootfs?.group });
  if (user.additionalGids.some((g) => g !== user.gid))
    warnings.push(`supplementary groups ${user.additionalGids.join(",")}: Porto sets only the primary group ${user.gid} (and the host's groups of uid ${user.uid})`);
  const env = processEnv({ hostname: pod.hostname, image: image.env, config: c.envs, tty: c.tty });
  const isolate = containerIsolate(pod.linux?.securityContext?.namespaceOptions, sc?.namespaceOptions);

  const mounts = containerMounts(c.mounts, { containerName: name, host: input.host });
  const entry = input.rootfs?.entry?.bind(input.rootfs);
  const fs: ContainerFs = {
    image: entry ? { entry } : undefined,
    rootVolumePath: input.rootVolumePath,
    binds: mounts.binds.map((b) => ({ target: b.target as string, source: b.source as string })),
    volumes: mounts.volumes.flatMap((v) => (v.links ?? []).map((l) => l.target as string)),
  };
  const security = containerSecurity(sc, input.host, fs);
  warnings.push(...security.warnings);
  const devices = containerDevices(c.devices, { privileged: sc?.privileged ?? false, host: input.host });
  warnings.push(...devices.warnings);
  const resources = resourcesSpec(c.linux?.resources, { field: "linux.resources", minOomScoreAdj: input.minOomScoreAdj });
  warnings.push(...resources.warnings);

  const spec: SpecFields = {
    name,
    weak: false,
    labels: shimLabels("container", input.containerId),
    commandArgv: { argv },
    env: portoEnv(env, user.home),
    cwd,
    user: user.portoUser,
    group: user.portoGroup,
    umask: UMASK_022,
    isolate,
    enablePorto: "false",
    agingTime: AGING_TIME_FOREVER,
    oomIsFatal: false,
    // stdout/stderr stay portod's own files, which the CRI log pump tails (src/logs/porto-stdio.ts).
    ...stdioSpec(),
    ...security.spec,
    ...resources.spec,
  };
  const binds = [...byDepth(mounts.binds, security.readonlyBinds), ...security.maskBinds];
  if (binds.length > 0) spec.bind = { bind: binds };
  if (devices.devices.length > 0) spec.devices = { device: devices.devices };

  // Porto writes /etc/hostname and /etc/resolv.conf after the binds and over them; a mount there wins instead.
  // Without resolv_conf portod still writes one (the host's) into a container with its own root: only "keep" writes none.
  const mounted = (p: string) => mounts.points.some((m) => m.path === p);
  if (pod.hostname !== "" && !mounted("/etc/hostname")) spec.hostname = pod.hostname;
  const resolv = mounted("/etc/resolv.conf") ? "keep" : (input.resolvConf ?? resolvConfText(pod.dnsConfig));
  if (resolv !== undefined) spec.resolvConf = resolv;

  // A container with its own IPC namespace does not see the pod's IPC sysctls: portod sets them again here.
  if (isolate) {
    const ipc = Object.entries(pod.linux?.sysctls ?? {})
      .map(([k, v]) => [normalizeSysctlName(k), v] as const)
      .filter(([k]) => IPC_SYSCTLS.includes(k))
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    if (ipc.length > 0) spec.sysctl = { map: ipc.map(([key, val]) => ({ key, val })) };
  }

  const root = rootVolume(input, name, cwd, mounts.points, {
    readOnly: sc?.readonlyRootfs ?? false,
    readOnlyPaths: security.readonlyRootPaths,
    files: [...(spec.hostname !== undefined ? ["/etc/hostname"] : []), ...(resolv !== "keep" ? ["/etc/resolv.conf"] : [])],
    warnings,
  });

  return {
    spec,
    volumes: [root, ...mounts.volumes],
    stopSignal: stopSignal(c.stopSignal, image.stopSignal),
    user: { uid: user.uid, gid: user.gid, username: user.username, additionalGids: user.additionalGids },
    podDevices: podDeviceGrant(devices.devices),
    warnings,
  };
}

/**
 * CRI mount binds and read-only-path binds in one list, parents before
 * children (a read-only /data bound after a mount at /data/x would hide it),
 * mounts before read-only binds of the same depth (a read-only path that is
 * a mount is the mount made read-only). The sort is stable.
 */
function byDepth(mounts: BindInit[], readonly: BindInit[]): BindInit[] {
  const depth = (b: BindInit) => String(b.target).split("/").length;
  return [...mounts.map((b) => ({ b, ro: 0 })), ...readonly.map((b) => ({ b, ro: 1 }))]
    .sort((x, y) => depth(x.b) - depth(y.b) || x.ro - y.ro)
    .map((x) => x.b);
}

/** Directories portod mounts or creates in every root at start; a read-only root must already have them. */
const START_DIRS = ["/dev", "/proc", "/sys", "/run"];
/** Mount points under these live on filesystems portod mounts at start, so they need nothing from the image. */
const MOUNTED_AT_START = ["/dev/", "/proc/", "/sys/", "/run/"];

/**
 * The root volume: an overlay portod builds from the image, linked as the
 * container's root. It also creates what the container needs at start but
 * the image lacks: the working directory (portod fails the start on a missing
 * cwd, where runc would create it) and, for a read-only root (portod remounts
 * it read-only before anything is mounted on it), every mount point, the
 * directories portod mounts over, and the files it writes (hard links to an
 * empty host file, copy-on-write; checked on 5.3.59).
 */
function rootVolume(
  input: ContainerSpecInput,
  name: string,
  cwd: string,
  points: MountPoint[],
  ro: { readOnly: boolean; readOnlyPaths: string[]; files: string[]; warnings: string[] },
): VolumeInit {
  const vol: VolumeInit = {
    backend: "overlay",
    image: input.imageName,
    links: [{ container: name, containerRoot: true }],
  };
  if (input.rootVolumePath !== undefined) vol.path = input.rootVolumePath;
  const rootfs = input.rootfs;
  // Without the image to look at, only what a read-only root certainly needs is added.
  const missing = (p: string) => (rootfs ? !rootfs.exists(p) : ro.readOnly && START_DIRS.includes(p));
  const dirs = new Set<string>();
  const files = new Set<string>();
  if (cwd !== "/" && rootfs && !rootfs.exists(cwd)) dirs.add(cwd);
  // Below a read-only path (bound before the mounts and the files portod writes) nothing can be made at start either.
  const frozen = (p: string) => ro.readOnly || ro.readOnlyPaths.some((r) => p.startsWith(r + "/"));
  if (ro.readOnly) for (const d of START_DIRS) if (missing(d)) dirs.add(d);
  for (const p of points) {
    if (!frozen(p.path) || MOUNTED_AT_START.some((m) => p.path.startsWith(m)) || !rootfs || rootfs.exists(p.path)) continue;
    if (p.file) files.add(p.path);
    else dirs.add(p.path);
  }
  // Porto binds its own text over these, so replacing one the image has costs nothing.
  for (const f of ro.files) if (frozen(f) && (!rootfs || !rootfs.exists(f))) files.add(f);
  if (dirs.size > 0) vol.directories = [...dirs].sort().map((d) => ({ path: d.slice(1), permissions: 0o755 }));
  if (files.size > 0) {
    const empty = input.host?.emptyFile;
    if (empty === undefined) ro.warnings.push(`readonly_rootfs: no empty host file given, so ${[...files].join(", ")} cannot be created`);
    else vol.shares = [...files].sort().map((f) => ({ path: f.slice(1), originPath: empty, cow: true }));
  }
  return vol;
}
