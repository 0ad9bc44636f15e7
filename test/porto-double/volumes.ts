/**
 * Volumes as records (src/volume.cpp semantics, no mounts). A volume has a
 * path (given, or `<volumesDir>/<id>/volume` like /place/porto_volumes), a
 * backend name, properties, and links to containers with optional targets.
 * Creating without links links it to the client's container ("/" for a host
 * client); removing the last link destroys it. Nothing is mounted: a link
 * target is only remembered, and every backend is a plain directory.
 */
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  EError,
  TVolumeDescriptionSchema,
  TVolumeLinkSchema,
  TVolumePropertySchema,
  TVolumeSpecSchema,
  TCredSchema,
  TVolumeResourceSchema,
  type TVolumeDescription,
  type TVolumeSpec,
} from "../../gen/rpc_pb.js";
import type { Container } from "./container.js";
import type { Daemon } from "./daemon.js";
import { fail } from "./errors.js";
import { normalPath } from "./names.js";
import { formatBool, formatTime, mergeEscaped, parseBool, parseSize, splitEscaped, splitEscaped2, stringMatch } from "./text.js";

export interface VolumeLink {
  container: Container;
  target: string;
  readOnly: boolean;
  required: boolean;
}

export interface Volume {
  id: string;
  path: string;
  autoPath: boolean;
  backend: string;
  state: "building" | "ready" | "unlinked" | "destroyed";
  private: string;
  readOnly: boolean;
  place: string;
  storage: string;
  image: string;
  layers: string[];
  fsType: string;
  spaceLimit: bigint;
  inodeLimit: bigint;
  spaceGuarantee: bigint;
  inodeGuarantee: bigint;
  permissions: number;
  ownerContainer: string;
  creator: string;
  buildTime: number;
  changeTime: number;
  links: VolumeLink[];
}

/** Names createVolume accepts, and whether each is read-only (VolumeProperties). */
export const VOLUME_PROPERTIES: ReadonlyArray<[string, string, boolean]> = [
  ["backend", "dir|plain|bind|rbind|tmpfs|hugetmpfs|quota|native|overlay|squash|lvm|loop|rbd (default - autodetect)", false],
  ["storage", "path to data storage (default - internal)", false],
  ["ready", "true|false - contruction complete (ro)", true],
  ["state", "volume state (ro)", true],
  ["private", "user-defined property", false],
  ["target_container", "target container (default - self)", false],
  ["owner_container", "owner container (default - self)", false],
  ["owner_user", "owner user (default - creator)", false],
  ["owner_group", "owner group (default - creator)", false],
  ["user", "directory user (default - creator)", false],
  ["group", "directory group (default - creator)", false],
  ["permissions", "directory permissions (default - 0775)", false],
  ["creator", "container user group (ro)", true],
  ["read_only", "true|false (default - false)", false],
  ["fs_type", "ext4|squashfs|erofs...", false],
  ["containers", "container [target] [ro] [!];... - initial links (default - self)", false],
  ["image", "[<registry>/][<repository>/]<name>[:<tag>][@<digest>] - docker image", false],
  ["layers", "top-layer;...;bottom-layer - overlayfs layers", false],
  ["place", "place for layers and default storage (optional)", false],
  ["device_name", "name of backend disk device (ro)", true],
  ["space_limit", "disk space limit (dynamic, default zero - unlimited)", false],
  ["inode_limit", "disk inode limit (dynamic, default zero - unlimited)", false],
  ["space_guarantee", "disk space guarantee (dynamic, default - zero)", false],
  ["inode_guarantee", "disk inode guarantee (dynamic, default - zero)", false],
  ["space_used", "current disk space usage (ro)", true],
  ["inode_used", "current disk inode used (ro)", true],
  ["space_available", "available disk space (ro)", true],
  ["inode_available", "available disk inodes (ro)", true],
];

export class Volumes {
  readonly byPath = new Map<string, Volume>();
  private nextId = 1;

  constructor(
    private readonly daemon: Daemon,
    private readonly volumesDir: string,
    private readonly place: string,
  ) {}

  find(path: string): Volume {
    const v = this.byPath.get(path);
    if (!v) throw fail(EError.VolumeNotFound, `Volume ${path} not found`);
    return v;
  }

  /** TVolume::VerifyConfig + ParseConfig: the legacy createVolume property list into a spec. */
  specFromProperties(path: string | undefined, props: ReadonlyMap<string, string>): TVolumeSpec {
    for (const key of props.keys()) {
      if (key === "path") continue;
      const p = VOLUME_PROPERTIES.find(([n]) => n === key);
      if (!p) throw fail(EError.InvalidProperty, "Unknown property: " + key);
      if (p[2]) throw fail(EError.InvalidProperty, "Read-only property: " + key);
    }
    const spec = create(TVolumeSpecSchema);
    const cfg = new Map(props);
    if (path) cfg.set("path", path);
    for (const [key, val] of [...cfg].sort(([a], [b]) => (a < b ? -1 : 1))) {
      switch (key) {
        case "path": spec.path = val; break;
        case "target_container": spec.container = val; break;
        case "place": spec.place = val; break;
        case "storage": spec.storage = val; break;
        case "backend": spec.backend = val; break;
        case "owner_container": spec.ownerContainer = val; break;
        case "owner_user": (spec.owner ??= create(TCredSchema)).user = val; break;
        case "owner_group": (spec.owner ??= create(TCredSchema)).group = val; break;
        case "user": (spec.cred ??= create(TCredSchema)).user = val; break;
        case "group": (spec.cred ??= create(TCredSchema)).group = val; break;
        case "permissions": {
          const n = Number.parseInt(val, 8);
          if (!/^[0-7]+$/.test(val.trim())) throw fail(EError.InvalidValue, "Bad base-8 value: " + val);
          spec.permissions = n;
          break;
        }
        case "private": spec.privateValue = val; break;
        case "containers":
          for (const l of splitEscaped2(val, " ", ";")) {
            const link = create(TVolumeLinkSchema, { container: l[0] });
            if (l.length > 1) link.target = l[1];
            if (l.length > 2 && l[2] === "ro") link.readOnly = true;
            if ((l.length > 2 && l[2] === "!") || (l.length > 3 && l[3] === "!")) link.required = true;
            spec.links.push(link);
          }
          break;
        case "read_only": spec.readOnly = parseBool(val); break;
        case "fs_type": spec.filesystemType = val; break;
        case "image": spec.image = val; break;
        case "layers": spec.layers = splitEscaped(val, ";"); break;
        case "space_limit": (spec.space ??= create(TVolumeResourceSchema)).limit = parseSize(val); break;
        case "space_guarantee": (spec.space ??= create(TVolumeResourceSchema)).guarantee = parseSize(val); break;
        case "inode_limit": (spec.inodes ??= create(TVolumeResourceSchema)).limit = parseSize(val); break;
        case "inode_guarantee": (spec.inodes ??= create(TVolumeResourceSchema)).guarantee = parseSize(val); break;
      }
    }
    return spec;
  }

  /** TVolume::Create: validates, records, links (to "/" when the spec names no links). */
  create(spec: TVolumeSpec): Volume {
    if (Buffer.byteLength(spec.privateValue) > 4096)
      throw fail(EError.InvalidValue, "Private value too log, max 4096 bytes");
    if (spec.container) this.daemon.find(spec.container);
    const owner = spec.ownerContainer ? this.daemon.find(spec.ownerContainer).name : "/";
    const id = String(this.nextId++);
    let path = spec.path;
    let autoPath = false;
    if (path) {
      if (!path.startsWith("/")) throw fail(EError.InvalidPath, "Volume path must be absolute");
      if (normalPath(path) !== path) throw fail(EError.InvalidPath, "Volume path must be normalized");
      if (this.byPath.has(path)) throw fail(EError.VolumeAlreadyExists, "Volume already exists");
      let isDir = false;
      try {
        isDir = statSync(path).isDirectory();
      } catch (e) {
        throw fail(EError.InvalidPath, `Cannot open volume path: ${(e as Error).message}`);
      }
      if (!isDir) throw fail(EError.InvalidPath, `Cannot open volume path: Not a directory: ${path}`);
    } else {
      path = join(this.volumesDir, id, "volume");
      autoPath = true;
    }
    const links = spec.links.map((l) => {
      const ct = this.daemon.find(l.container);
      checkTarget(path, l.target);
      return { container: ct, target: l.target, readOnly: l.readOnly, required: l.required };
    });
    if (spec.storage && (spec.backend === "bind" || spec.backend === "rbind")) {
      try {
        statSync(spec.storage);
      } catch {
        throw fail(EError.InvalidPath, "Storage path does not exist");
      }
    }
    const now = Math.floor(Date.now() / 1000);
    const v: Volume = {
      id,
      path,
      autoPath,
      backend: spec.backend || "plain",
      state: "ready",
      private: spec.privateValue,
      readOnly: spec.readOnly,
      place: spec.place || this.place,
      storage: spec.storage,
      image: spec.image,
      layers: [...spec.layers],
      fsType: spec.filesystemType,
      spaceLimit: spec.space?.limit ?? 0n,
      inodeLimit: spec.inodes?.limit ?? 0n,
      spaceGuarantee: spec.space?.guarantee ?? 0n,
      inodeGuarantee: spec.inodes?.guarantee ?? 0n,
      permissions: spec.permissions || 0o775,
      ownerContainer: owner,
      creator: "/ root root",
      buildTime: now,
      changeTime: now,
      links: [],
    };
    if (autoPath) mkdirSync(path, { recursive: true, mode: v.permissions });
    // portod keeps an overlay's writes in its internal storage: <place>/porto_volumes/<id>/overlay/upper.
    if (hasInternalStorage(v)) mkdirSync(upperDir(this.volumesDir, v), { recursive: true });
    this.byPath.set(path, v);
    const initial = links.length ? links : [{ container: this.daemon.root, target: "", readOnly: false, required: false }];
    for (const l of initial) this.link(v, l.container, l.target, l.readOnly, l.required);
    return v;
  }

  /** TVolume::LinkVolume. */
  link(v: Volume, ct: Container, target: string, readOnly: boolean, required: boolean): void {
    checkTarget(v.path, target);
    if (v.links.some((l) => l.container === ct && l.target === target))
      throw fail(EError.VolumeAlreadyLinked, "Volume already linked");
    if (v.state !== "ready") throw fail(EError.VolumeNotReady, `Volume not ready: ${v.path}`);
    v.links.push({ container: ct, target, readOnly, required });
    v.changeTime = Math.floor(Date.now() / 1000);
  }

  /** TVolume::UnlinkVolume; target "***" removes every link of the container. The last link destroys. */
  unlink(v: Volume, ct: Container, target: string, strict: boolean): void {
    const all = target === "***";
    const mine = v.links.filter((l) => l.container === ct && (all || l.target === target));
    if (!mine.length)
      throw fail(EError.VolumeNotLinked, `Container ${ct.name} is not linked with volume ${v.path}`);
    if (strict && v.links.length > 1)
      throw fail(EError.Busy, `More than one container linked with volume ${v.path}`);
    for (const l of all ? mine : mine.slice(0, 1)) v.links.splice(v.links.indexOf(l), 1);
    v.changeTime = Math.floor(Date.now() / 1000);
    if (!v.links.length) this.destroy(v);
  }

  /** TVolume::UnlinkAllVolumes, when a container is destroyed. */
  unlinkAll(ct: Container): void {
    for (const v of [...this.byPath.values()]) {
      if (v.links.some((l) => l.container === ct)) this.unlink(v, ct, "***", false);
      if (v.ownerContainer === ct.name) v.ownerContainer = ct.parent?.name ?? "/";
    }
  }

  destroy(v: Volume): void {
    v.state = "destroyed";
    this.byPath.delete(v.path);
    if (v.autoPath || hasInternalStorage(v)) rmSync(join(this.volumesDir, v.id), { recursive: true, force: true });
  }

  list(mask: string): Volume[] {
    return [...this.byPath.values()]
      .filter((v) => stringMatch(v.path, mask))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
  }

  /** TVolume::DumpDescription: the legacy property-list view. */
  describe(v: Volume, path = v.path): TVolumeDescription {
    const props = new Map<string, string>([
      ["id", v.id],
      ["storage", v.storage],
      ["backend", v.backend],
      ["owner_container", v.ownerContainer],
      ["owner_user", "root"],
      ["owner_group", "root"],
      ["user", "root"],
      ["group", "root"],
      ["permissions", "0" + v.permissions.toString(8)],
      ["creator", v.creator],
      ["ready", formatBool(v.state === "ready")],
      ["build_time", formatTime(v.buildTime)],
      ["change_time", formatTime(v.changeTime)],
      ["state", v.state],
      ["private", v.private],
      ["read_only", formatBool(v.readOnly)],
      ["image", v.image],
      ["space_limit", String(v.spaceLimit)],
      ["inode_limit", String(v.inodeLimit)],
      ["space_guarantee", String(v.spaceGuarantee)],
      ["inode_guarantee", String(v.inodeGuarantee)],
      ["place", v.place],
      ["space_used", "0"],
      ["inode_used", "0"],
      ["space_available", "0"],
      ["inode_available", "0"],
    ]);
    if (v.layers.length) props.set("layers", mergeEscaped(v.layers, ";"));
    const d = create(TVolumeDescriptionSchema, { path, changeTime: BigInt(v.changeTime) });
    for (const l of v.links) {
      d.containers.push(l.container.name);
      const link = create(TVolumeLinkSchema, { container: l.container.name });
      if (l.target) link.target = l.target;
      if (l.readOnly) link.readOnly = true;
      if (l.required) link.required = true;
      d.links.push(link);
    }
    for (const k of [...props.keys()].sort()) d.properties.push(create(TVolumePropertySchema, { name: k, value: props.get(k) ?? "" }));
    return d;
  }

  /** TVolume::Dump: the typed TVolumeSpec view (NewVolume, GetVolume). */
  dump(v: Volume): TVolumeSpec {
    const s = create(TVolumeSpecSchema, {
      path: v.path,
      container: "/",
      id: v.id,
      state: v.state,
      backend: v.backend,
      creator: v.creator,
      buildTime: BigInt(v.buildTime),
      changeTime: BigInt(v.changeTime),
      place: v.place,
      ownerContainer: v.ownerContainer,
      owner: create(TCredSchema, { user: "root", group: "root" }),
      cred: create(TCredSchema, { user: "root", group: "root" }),
      permissions: v.permissions,
      readOnly: v.readOnly,
    });
    if (v.autoPath) s.autoPath = true;
    if (v.private) s.privateValue = v.private;
    if (v.storage) s.storage = v.storage;
    if (v.image) s.image = v.image;
    s.layers = [...v.layers];
    s.space = create(TVolumeResourceSchema, { usage: 0n, available: 0n });
    if (v.spaceLimit) s.space.limit = v.spaceLimit;
    if (v.spaceGuarantee) s.space.guarantee = v.spaceGuarantee;
    s.inodes = create(TVolumeResourceSchema, { usage: 0n, available: 0n });
    if (v.inodeLimit) s.inodes.limit = v.inodeLimit;
    if (v.inodeGuarantee) s.inodes.guarantee = v.inodeGuarantee;
    for (const l of v.links) {
      const link = create(TVolumeLinkSchema, { container: l.container.name });
      if (l.target) link.target = l.target;
      if (l.readOnly) link.readOnly = true;
      if (l.required) link.required = true;
      s.links.push(link);
    }
    return s;
  }
}

/** An overlay without `storage` keeps its layers in portod's place, whatever its path. */
function hasInternalStorage(v: Volume): boolean {
  return v.backend === "overlay" && !v.storage;
}

/** Where an overlay volume without its own storage keeps what was written to it (TVolume::GetInternal, BuildOverlay). */
export function upperDir(volumesDir: string, v: Volume): string {
  return join(volumesDir, v.id, "overlay", "upper");
}

function checkTarget(path: string, target: string): void {
  if (!target) return;
  if (!target.startsWith("/")) throw fail(EError.InvalidPath, `Volume ${path} link path ${target} must be absolute`);
  if (normalPath(target) !== target)
    throw fail(EError.InvalidPath, `Volume ${path} link path ${target} must be normalized`);
}
