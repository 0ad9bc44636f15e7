import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { DeviceSchema, MountPropagation, MountSchema } from "../../gen/runtime/v1/api_pb.js";
import { absolutePath, containerDevices, containerMounts, podDeviceGrant } from "../../src/mapping/mounts.js";
import type { HostFacts } from "../../src/mapping/host-facts.js";
import { throwsCode } from "./helpers.js";

const m = (init: Parameters<typeof create<typeof MountSchema>>[1]) => create(MountSchema, init);
const dev = (init: Parameters<typeof create<typeof DeviceSchema>>[1]) => create(DeviceSchema, init);
const NAME = "k8s-p/c";

test("absolutePath normalizes and refuses relative paths, naming the field", () => {
  assert.equal(absolutePath("/a//b/./c/", "f"), "/a/b/c");
  assert.equal(absolutePath("/", "f"), "/");
  assert.equal(absolutePath("/a/../b", "f"), "/b");
  throwsCode(() => absolutePath("a/b", "mounts[3].host_path"), Code.InvalidArgument, "mounts[3].host_path");
  throwsCode(() => absolutePath("", "f"), Code.InvalidArgument, "f");
});

test("bind flags: always rec; ro; private for PROPAGATION_PRIVATE; nothing for rslave", () => {
  const table: [string, Parameters<typeof m>[0], string[]][] = [
    ["private rw (kubelet's default)", { propagation: MountPropagation.PROPAGATION_PRIVATE }, ["rec", "private"]],
    ["private ro", { readonly: true }, ["rec", "ro", "private"]],
    ["recursive read-only", { readonly: true, recursiveReadOnly: true }, ["rec", "ro", "private"]],
    ["host to container (rslave)", { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }, ["rec"]],
    ["host to container ro", { propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER, readonly: true }, ["rec", "ro"]],
    ["selinux_relabel ignored", { selinuxRelabel: true }, ["rec", "private"]],
  ];
  for (const [name, init, flag] of table) {
    const out = containerMounts([m({ containerPath: "/data", hostPath: "/srv/data", ...init })], { containerName: NAME });
    assert.deepEqual(out.binds, [{ source: "/srv/data", target: "/data", flag }], name);
  }
});

test("mounts are ordered parents first, stable otherwise; paths normalized", () => {
  const out = containerMounts(
    [
      m({ containerPath: "/a/b/c", hostPath: "/h/1" }),
      m({ containerPath: "/z/", hostPath: "/h/2/" }),
      m({ containerPath: "/a", hostPath: "/h/3" }),
      m({ containerPath: "/y", hostPath: "/h/4" }),
      m({ containerPath: "/a/b", hostPath: "/h/5" }),
    ],
    { containerName: NAME },
  );
  assert.deepEqual(
    out.binds.map((b) => [b.target, b.source]),
    [
      ["/z", "/h/2"],
      ["/a", "/h/3"],
      ["/y", "/h/4"],
      ["/a/b", "/h/5"],
      ["/a/b/c", "/h/1"],
    ],
  );
});

test("mount points record file or directory when the host can tell", () => {
  const host: HostFacts = { isDirectory: (p) => p !== "/var/lib/kubelet/hosts" };
  const out = containerMounts(
    [m({ containerPath: "/etc/hosts", hostPath: "/var/lib/kubelet/hosts" }), m({ containerPath: "/data", hostPath: "/srv" })],
    { containerName: NAME, host },
  );
  assert.deepEqual(out.points, [
    { path: "/data", file: false },
    { path: "/etc/hosts", file: true },
  ]);
  assert.deepEqual(containerMounts([m({ containerPath: "/d", hostPath: "/s" })], { containerName: NAME }).points, [{ path: "/d", file: undefined }]);
});

test("image mounts become read-only overlay volumes linked at the target", () => {
  const out = containerMounts([m({ containerPath: "/models/", image: { image: "sha256:abc" } })], { containerName: NAME });
  assert.deepEqual(out.binds, []);
  assert.deepEqual(out.volumes, [
    { backend: "overlay", image: "sha256:abc", readOnly: true, links: [{ container: NAME, target: "/models", readOnly: true, required: true }] },
  ]);
});

test("image volumes named by id lose the sha256: prefix portod does not take", () => {
  const id = "1da1010c322670b74db6067db54f01336880aa994d3cd7d72ba5baea5db45583";
  const image = (ref: string) => containerMounts([m({ containerPath: "/i", image: { image: ref } })], { containerName: NAME }).volumes[0].image;
  assert.equal(image(`sha256:${id}`), id);
  assert.equal(image(id), id);
  assert.equal(image("registry.k8s.io/pause:3.7"), "registry.k8s.io/pause:3.7");
});

test("mount errors name the field and say why", () => {
  const t = (init: Parameters<typeof m>[0], code: Code, frag: string) =>
    throwsCode(() => containerMounts([m({ containerPath: "/ok", hostPath: "/ok" }), m(init)], { containerName: NAME }), code, frag);
  t({ containerPath: "rel", hostPath: "/h" }, Code.InvalidArgument, "mounts[1].container_path");
  t({ containerPath: "/c", hostPath: "rel" }, Code.InvalidArgument, "mounts[1].host_path");
  t({ containerPath: "/", hostPath: "/h" }, Code.InvalidArgument, "mounts[1].container_path");
  t({ containerPath: "/c", hostPath: "/h", propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL }, Code.Unimplemented, "mounts[1].propagation");
  t({ containerPath: "/c", hostPath: "/h", recursiveReadOnly: true }, Code.InvalidArgument, "mounts[1].recursive_read_only");
  t({ containerPath: "/c", hostPath: "/h", readonly: true, recursiveReadOnly: true, propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }, Code.InvalidArgument, "recursive_read_only");
  t({ containerPath: "/c", hostPath: "/h", uidMappings: [{ hostId: 1, containerId: 0, length: 1 }] }, Code.Unimplemented, "mounts[1]: id-mapped");
  t({ containerPath: "/c", image: { image: "x" }, imageSubPath: "sub" }, Code.Unimplemented, "mounts[1].image_sub_path");
  t({ containerPath: "/c", hostPath: "/h", image: { image: "x" } }, Code.InvalidArgument, "host_path and image");
});

test("devices: paths, default permissions, container path defaulting to the host's", () => {
  const { devices, warnings } = containerDevices(
    [
      dev({ hostPath: "/dev/fuse", containerPath: "/dev/fuse", permissions: "rw" }),
      dev({ hostPath: "/dev/nvidia0", containerPath: "/dev/gpu/0", permissions: "" }),
      dev({ hostPath: "/dev/kvm", permissions: "rwm" }),
    ],
    { privileged: false },
  );
  assert.deepEqual(devices, [
    { device: "/dev/fuse", access: "rw", path: "/dev/fuse" },
    { device: "/dev/nvidia0", access: "rwm", path: "/dev/gpu/0" },
    { device: "/dev/kvm", access: "rwm", path: "/dev/kvm" },
  ]);
  assert.deepEqual(warnings, []);
});

test("devices: a host directory stands for the devices under it; privileged gets every host device", () => {
  const host: HostFacts = { isDirectory: (p) => p === "/dev/dri", devices: ["/dev/null", "/dev/dri/card0", "/dev/dri/renderD128", "/dev/drift"] };
  const dir = containerDevices([dev({ hostPath: "/dev/dri", containerPath: "/dev/dri", permissions: "rw" })], { privileged: false, host });
  assert.deepEqual(dir.devices, [
    { device: "/dev/dri/card0", access: "rw", path: "/dev/dri/card0" },
    { device: "/dev/dri/renderD128", access: "rw", path: "/dev/dri/renderD128" },
  ]);
  const priv = containerDevices([], { privileged: true, host });
  assert.equal(priv.devices.length, 4);
  assert.ok(priv.devices.every((d) => d.access === "rwm" && d.device === d.path));
  assert.deepEqual(containerDevices([], { privileged: true }).warnings.length, 1);
});

test("device errors name the field", () => {
  const t = (init: Parameters<typeof dev>[0], frag: string) => throwsCode(() => containerDevices([dev(init)], { privileged: false }), Code.InvalidArgument, frag);
  t({ hostPath: "dev/x" }, "devices[0].host_path");
  t({ hostPath: "/srv/x" }, "devices[0].host_path");
  t({ hostPath: "/dev/x", containerPath: "/x" }, "devices[0].container_path");
  t({ hostPath: "/dev/x", permissions: "rwx" }, "devices[0].permissions");
});

test("podDeviceGrant merges each host node once with full access; nothing for no devices", () => {
  assert.equal(podDeviceGrant([]), undefined);
  assert.deepEqual(
    podDeviceGrant([
      { device: "/dev/fuse", access: "r", path: "/dev/a" },
      { device: "/dev/fuse", access: "w", path: "/dev/b" },
      { device: "/dev/kvm", access: "rw", path: "/dev/kvm" },
    ]),
    { device: [{ device: "/dev/fuse", access: "rwm" }, { device: "/dev/kvm", access: "rwm" }], merge: true },
  );
});
