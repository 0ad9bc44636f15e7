/**
 * CRI mounts and devices as Porto sees them.
 *
 * Mounts become Porto `bind` entries (TContainerBindMount: source in the
 * host's namespace, target in the container). Flags as Porto spells them
 * (src/util/path.cpp, allowed set in TBindMount::Load): ro, rw, rec, private,
 * unbindable, dev/nodev, suid/nosuid, exec/noexec, noatime, nodiratime,
 * relatime. What portod 5.3.59 does with them (read in filesystem.cpp and
 * seen in /proc/self/mountinfo):
 * - every bind here is "rec", as containerd's are rbinds;
 * - "ro" with "rec" makes every submount read-only too (Porto remounts each),
 *   so readonly is always recursive: stricter than runc for plain readonly,
 *   exactly CRI's recursive_read_only;
 * - propagation: without "private" Porto makes the bind a slave of the host
 *   mount and shared below it ("shared:N master:M"): PROPAGATION_HOST_TO_CONTAINER
 *   (rslave). "private" gives its own peer group, no master: PROPAGATION_PRIVATE.
 *   PROPAGATION_BIDIRECTIONAL (rshared to the host) Porto cannot do: it is refused;
 * - "nodev" is added unless "dev" is given; suid is allowed;
 * - a missing target is created (a directory for a directory source, else a file).
 *
 * Devices become Porto `devices` (TContainerDevice). A child container may
 * only use devices its parent allows ("Device is not permitted for parent
 * container"), so the pod must be granted them first: `podDeviceGrant`.
 */
import { posix } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type {
  TContainerBindMountSchema,
  TContainerDeviceSchema,
  TContainerDevicesSchema,
  TVolumeSpecSchema,
} from "../../gen/rpc_pb.js";
import { MountPropagation } from "../../gen/runtime/v1/api_pb.js";
import type { Device, Mount } from "../../gen/runtime/v1/api_pb.js";
import type { HostFacts } from "./host-facts.js";

export type BindInit = MessageInitShape<typeof TContainerBindMountSchema>;
export type DeviceInit = MessageInitShape<typeof TContainerDeviceSchema>;
export type VolumeInit = MessageInitShape<typeof TVolumeSpecSchema>;

/** A mount point the container will have, for read-only roots that must provide it in advance. */
export interface MountPoint {
  /** Absolute, normalized path inside the container. */
  path: string;
  /** A file rather than a directory; undefined when the host could not tell. */
  file: boolean | undefined;
}

export interface ContainerMounts {
  binds: BindInit[];
  /** Image volumes, linked at their targets. */
  volumes: VolumeInit[];
  points: MountPoint[];
}

/** An absolute path, normalized, without a trailing slash; InvalidArgument naming `field` otherwise. */
export function absolutePath(p: string, field: string): string {
  if (!p.startsWith("/")) throw new ConnectError(`${field}: ${JSON.stringify(p)} is not an absolute path`, Code.InvalidArgument);
  if (p.includes("\0")) throw new ConnectError(`${field}: contains a NUL byte`, Code.InvalidArgument);
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

function depth(p: string): number {
  return p === "/" ? 0 : p.split("/").length - 1;
}

/**
 * Porto binds and image volumes for a container's mounts, parents before
 * children (containerd sorts by path depth too, keeping the given order otherwise).
 */
export function containerMounts(
  mounts: readonly Mount[],
  options: { containerName: string; host?: HostFacts },
): ContainerMounts {
  const entries = mounts.map((m, i) => ({ m, i, target: absolutePath(m.containerPath, `mounts[${i}].container_path`) }));
  entries.sort((a, b) => depth(a.target) - depth(b.target) || a.i - b.i);
  const out: ContainerMounts = { binds: [], volumes: [], points: [] };
  for (const { m, i, target } of entries) {
    const field = `mounts[${i}]`;
    if (target === "/") throw new ConnectError(`${field}.container_path: cannot mount over the root`, Code.InvalidArgument);
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0)
      throw new ConnectError(`${field}: id-mapped mounts (uidMappings/gidMappings) are not supported on Porto`, Code.Unimplemented);
    if (m.recursiveReadOnly && (!m.readonly || m.propagation !== MountPropagation.PROPAGATION_PRIVATE))
      throw new ConnectError(`${field}.recursive_read_only: needs readonly and PROPAGATION_PRIVATE`, Code.InvalidArgument);
    if (m.propagation === MountPropagation.PROPAGATION_BIDIRECTIONAL)
      throw new ConnectError(
        `${field}.propagation: PROPAGATION_BIDIRECTIONAL is not supported on Porto (mounts cannot propagate from a container to the host)`,
        Code.Unimplemented,
      );

    if (m.image && m.image.image !== "") {
      if (m.hostPath !== "") throw new ConnectError(`${field}: host_path and image are exclusive`, Code.InvalidArgument);
      if (m.imageSubPath !== "")
        throw new ConnectError(`${field}.image_sub_path: mounting part of an image is not supported on Porto`, Code.Unimplemented);
      // An image volume is read-only, as CRI defines it; Porto builds it like a root volume.
      out.volumes.push({
        backend: "overlay",
        image: portoImageRef(m.image.image),
        readOnly: true,
        links: [{ container: options.containerName, target, readOnly: true, required: true }],
      });
      out.points.push({ path: target, file: false });
      continue;
    }

    const source = absolutePath(m.hostPath, `${field}.host_path`);
    const flag = ["rec"];
    if (m.readonly) flag.push("ro");
    if (m.propagation === MountPropagation.PROPAGATION_PRIVATE) flag.push("private");
    out.binds.push({ source, target, flag });
    const isDir = options.host?.isDirectory?.(source);
    out.points.push({ path: target, file: isDir === undefined ? undefined : !isDir });
  }
  return out;
}

/**
 * An image reference as Porto's volume `image` takes it: kubelet names image
 * volumes by the id PullImage returned ("sha256:<hex>"), which portod reads as
 * a repository name ("mirror.gcr.io/sha256:..." not found); it takes the bare hex.
 */
export function portoImageRef(image: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(image);
  return m ? m[1] : image;
}

/**
 * Porto devices for CRI devices. A host_path that is a directory stands for
 * every device under it (containerd's rule); that needs `host.devices`.
 * Privileged containers get every host device read-write-mknod.
 * Porto creates the node inside for r or w access (it adds "m" itself).
 */
export function containerDevices(
  devices: readonly Device[],
  options: { privileged: boolean; host?: HostFacts },
): { devices: DeviceInit[]; warnings: string[] } {
  const out = new Map<string, DeviceInit>();
  const warnings: string[] = [];
  if (options.privileged) {
    if (options.host?.devices) for (const d of options.host.devices) out.set(d, { device: d, access: "rwm", path: d });
    else warnings.push("privileged: the host's device list was not given, so no host devices were added");
  }
  devices.forEach((d, i) => {
    const field = `devices[${i}]`;
    const hostPath = absolutePath(d.hostPath, `${field}.host_path`);
    const containerPath = absolutePath(d.containerPath || d.hostPath, `${field}.container_path`);
    for (const [p, what] of [
      [hostPath, "host_path"],
      [containerPath, "container_path"],
    ] as const) {
      if (!p.startsWith("/dev/"))
        throw new ConnectError(`${field}.${what}: Porto only handles devices under /dev, not ${JSON.stringify(p)}`, Code.InvalidArgument);
    }
    const access = d.permissions === "" ? "rwm" : d.permissions;
    if (!/^[rwm]+$/.test(access))
      throw new ConnectError(`${field}.permissions: ${JSON.stringify(d.permissions)} is not a subset of "rwm"`, Code.InvalidArgument);
    if (options.host?.isDirectory?.(hostPath)) {
      const under = (options.host.devices ?? []).filter((p) => p.startsWith(hostPath + "/"));
      if (!options.host.devices) warnings.push(`${field}: ${hostPath} is a directory but the host's device list was not given`);
      for (const p of under) {
        const inside = containerPath + p.slice(hostPath.length);
        out.set(inside, { device: p, access, path: inside });
      }
      return;
    }
    out.set(containerPath, { device: hostPath, access, path: containerPath });
  });
  return { devices: [...out.values()], warnings };
}

/**
 * What to merge into the pod's `devices` before creating a container that
 * uses `devices` (Porto checks a child's devices against its parent's). The
 * pod is created with its devices controller on (podSpec sets an empty list),
 * so this merge only adds allow rules; turning the controller on later fails
 * once the pod has children (devices.deny "a" is refused by the kernel then).
 */
export function podDeviceGrant(devices: readonly DeviceInit[]): MessageInitShape<typeof TContainerDevicesSchema> | undefined {
  if (devices.length === 0) return undefined;
  // The pod needs the host node with the widest access; where it appears inside is the container's business.
  const hostNodes = [...new Set(devices.map((d) => d.device as string))];
  return { device: hostNodes.map((device) => ({ device, access: "rwm" })), merge: true };
}
