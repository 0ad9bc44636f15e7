/** The host facts and image root filesystems the lifecycle gives the mapping. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostFacts, minOomScoreAdj } from "../../src/runtime/host.js";
import { imageRootfs, layerContentDir } from "../../src/runtime/image-rootfs.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "host-rootfs-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("host facts: an empty file and directory beside the volumes, stat and read answers, devices under /dev", async () => {
  const volumes = join(dir, "volumes");
  const host = hostFacts(volumes);
  assert.equal((await stat(host.emptyFile!)).size, 0);
  assert.ok((await stat(host.emptyDir!)).isDirectory());
  assert.equal(host.exists!(volumes), true);
  assert.equal(host.exists!(join(volumes, "nope")), false);
  assert.equal(host.isDirectory!(volumes), true);
  assert.equal(host.isDirectory!(host.emptyFile!), false);
  assert.equal(host.readFile!(join(volumes, "nope")), undefined);
  assert.ok(host.devices!.includes("/dev/null"));
  assert.ok(host.devices!.every((d) => d.startsWith("/dev/")));
  hostFacts(volumes); // again: existing files are fine
});

test("minOomScoreAdj follows CAP_SYS_RESOURCE in CapEff", async () => {
  const status = join(dir, "status");
  await writeFile(status, "Name:\tnode\nCapEff:\t000001ffffffffff\n");
  assert.equal(minOomScoreAdj(status), -1000);
  await writeFile(status, "Name:\tnode\nCapEff:\t000001fffeffffff\n");
  assert.equal(minOomScoreAdj(status), 0);
  assert.equal(minOomScoreAdj(join(dir, "absent")), 0);
});

test("an image's root filesystem is the overlay of its unpacked layers, whiteouts included", async () => {
  const store = join(dir, "porto_docker");
  const id = "a".repeat(64);
  const bottom = "b".repeat(64);
  const top = "c".repeat(64);
  await mkdir(join(store, "v1", "images", "aa", id), { recursive: true });
  await writeFile(
    join(store, "v1", "images", "aa", id, "manifest.json"),
    JSON.stringify({ layers: [{ digest: `sha256:${bottom}` }, { digest: `sha256:${top}` }] }),
  );
  const b = layerContentDir(store, bottom);
  const t = layerContentDir(store, top);
  await mkdir(join(b, "etc"), { recursive: true });
  await mkdir(join(b, "srv", "data"), { recursive: true });
  await mkdir(join(b, "opt", "old"), { recursive: true });
  await writeFile(join(b, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
  await writeFile(join(b, "etc", "group"), "root:x:0:\n");
  await mkdir(join(t, "etc"), { recursive: true });
  await mkdir(join(t, "opt"), { recursive: true });
  await writeFile(join(t, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
  await writeFile(join(t, ".wh.srv"), "");
  await writeFile(join(t, "opt", ".wh..wh..opq"), "");

  const fs = imageRootfs(store, `sha256:${id}`)!;
  assert.match(fs.passwd!, /^app:/m, "the top layer's passwd wins");
  assert.equal(fs.group, "root:x:0:\n", "the bottom layer's group shows through");
  assert.equal(fs.exists("/etc"), true);
  assert.equal(fs.exists("/"), true);
  assert.equal(fs.exists("/srv/data"), false, "whited out");
  assert.equal(fs.exists("/opt"), true);
  assert.equal(fs.exists("/opt/old"), false, "hidden by an opaque directory");
  assert.equal(fs.exists("/nope"), false);
  // entry(): lstat of the visible copy, symlinks not followed (on the host or anywhere).
  await symlink("/etc/passwd", join(t, "pw"));
  assert.deepEqual(fs.entry("/etc"), { type: "directory" });
  assert.deepEqual(fs.entry("/etc/group"), { type: "file" });
  assert.deepEqual(fs.entry("/pw"), { type: "symlink", target: "/etc/passwd" });
  assert.equal(fs.entry("/srv"), undefined, "whited out");
  assert.equal(fs.entry("/opt/old"), undefined, "hidden by an opaque directory");
  assert.equal(fs.entry("/etc/group/x"), undefined, "below a file");
  assert.equal(imageRootfs(store, "d".repeat(64)), undefined, "an image the store lacks");
  assert.equal(imageRootfs(store, "not-an-id"), undefined);
});
