import { test } from "node:test";
import assert from "node:assert/strict";
import { locate, resolveInImage, type ContainerFs, type RootfsEntry } from "../../src/mapping/container-paths.js";

const tree: Record<string, RootfsEntry> = {
  "/bin": { type: "directory" },
  "/bin/busybox": { type: "file" },
  "/bin/sh": { type: "symlink", target: "busybox" },
  "/usr": { type: "directory" },
  "/usr/bin": { type: "symlink", target: "/bin" },
  "/up": { type: "symlink", target: "../../../bin" },
  "/etc": { type: "symlink", target: "/host/etc" }, // absolute: the image's /host/etc, not the host's /etc
  "/loop": { type: "symlink", target: "/loop2" },
  "/loop2": { type: "symlink", target: "/loop" },
};
const image = { entry: (p: string) => tree[p] };

test("resolveInImage follows symlinks inside the image, never past its root", () => {
  const table: [string, ReturnType<typeof resolveInImage>][] = [
    ["/", { path: "/", directory: true }],
    ["/bin/busybox", { path: "/bin/busybox", directory: false }],
    ["/bin/sh", { path: "/bin/busybox", directory: false }],
    ["/usr/bin/sh", { path: "/bin/busybox", directory: false }],
    ["/usr/bin/../bin/./busybox", { path: "/bin/busybox", directory: false }],
    ["/up", { path: "/bin", directory: true }],
    ["/../../bin", { path: "/bin", directory: true }],
    ["/etc/passwd", undefined],
    ["/loop", undefined],
    ["/bin/busybox/x", undefined],
    ["/nope", undefined],
  ];
  for (const [path, want] of table) assert.deepEqual(resolveInImage(image, path), want, path);
});

test("locate: the deepest mount wins; a CRI mount over portod's /dev or /run is the mount", () => {
  const fs: ContainerFs = {
    binds: [
      { target: "/data", source: "/k/a" },
      { target: "/data", source: "/k/b" },
      { target: "/dev/termination-log", source: "/k/t" },
      { target: "/run/secrets/token", source: "/k/s" },
    ],
    volumes: ["/models", "/data/m"],
  };
  const table: [string, ReturnType<typeof locate>][] = [
    ["/tmp", { kind: "root" }],
    ["/procfoo", { kind: "root" }],
    ["/proc", { kind: "proc" }],
    ["/proc/acpi", { kind: "proc" }],
    ["/sys/firmware", { kind: "sys" }],
    ["/dev/shm", { kind: "unknown", what: "portod's /dev" }],
    ["/dev/termination-log", { kind: "bind", hostPath: "/k/t" }],
    ["/run/secrets/token", { kind: "bind", hostPath: "/k/s" }],
    ["/run/lock", { kind: "unknown", what: "portod's /run" }],
    ["/data", { kind: "bind", hostPath: "/k/b" }],
    ["/data/x/y", { kind: "bind", hostPath: "/k/b/x/y" }],
    ["/data/m/x", { kind: "unknown", what: "the image volume at /data/m" }],
    ["/models", { kind: "unknown", what: "the image volume at /models" }],
  ];
  for (const [path, want] of table) assert.deepEqual(locate(path, fs), want, path);
});
