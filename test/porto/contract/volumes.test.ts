/**
 * Contracts: volumes as the shim uses them — create (legacy and typed),
 * links with targets, unlink, destruction with the last link.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EError, type TVolumeDescription } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import type { RawPorto } from "./raw-porto.js";

function props(v: TVolumeDescription): Record<string, string> {
  return Object.fromEntries(v.properties.map((p) => [p.name, p.value]));
}

async function describe(c: RawPorto, path: string): Promise<TVolumeDescription | undefined> {
  const rsp = await c.raw({ listVolumes: { path } });
  if (rsp.error === EError.VolumeNotFound) return undefined;
  assert.equal(rsp.error, EError.Success, rsp.errorMsg);
  return rsp.volumeList!.volumes[0];
}

contract("volumes", (t) => {
  const mine = () => ({ name: "private", value: t().prefix });

  it("creates a volume at an automatic path, ready, linked to the client's container `/`", async () => {
    const c = await t().connect();
    const rsp = await c.call({ createVolume: { properties: [mine(), { name: "backend", value: "plain" }] } });
    const v = rsp.volumeDescription!;
    assert.match(v.path, /\/porto_volumes\/\d+\/volume$/);
    const p = props(v);
    assert.equal(p.backend, "plain");
    assert.equal(p.ready, "true");
    assert.equal(p.state, "ready");
    assert.equal(p.private, t().prefix);
    assert.deepEqual(v.containers, ["/"]);
    await c.call({ unlinkVolume: { path: v.path, container: "/" } });
    assert.equal(await describe(c, v.path), undefined, "unlinking the last link destroys the volume");
  });

  it("links to the containers named at creation; destroying the last linked container destroys it", async () => {
    const c = await t().connect();
    const name = t().name("owner");
    await c.call({ create: { name } });
    const v = (await c.call({ createVolume: { properties: [mine(), { name: "containers", value: name }] } })).volumeDescription!;
    assert.deepEqual(v.containers, [name]);
    await c.call({ destroy: { name } });
    assert.equal(await describe(c, v.path), undefined);
  });

  it("links and unlinks by target; listVolumes shows each link's target", async () => {
    const c = await t().connect();
    const a = t().name("la");
    const b = t().name("lb");
    await c.call({ create: { name: a } });
    await c.call({ create: { name: b } });
    const v = (await c.call({ createVolume: { properties: [mine(), { name: "containers", value: a }] } })).volumeDescription!;
    const mnt = mkdtempSync(join(tmpdir(), `${t().prefix}-mnt-`));
    try {
      await c.call({ LinkVolumeTarget: { path: v.path, container: b, target: mnt, readOnly: true } });
      const d = (await describe(c, v.path))!;
      assert.deepEqual(
        d.links.map((l) => [l.container, l.target, l.readOnly]).sort(),
        [
          [a, "", false],
          [b, mnt, true],
        ].sort(),
      );
      assert.equal(await c.code({ LinkVolumeTarget: { path: v.path, container: b, target: mnt } }), EError.VolumeAlreadyLinked);
      await c.call({ UnlinkVolumeTarget: { path: v.path, container: b, target: mnt } });
      assert.equal(await c.code({ UnlinkVolumeTarget: { path: v.path, container: b, target: mnt } }), EError.VolumeNotLinked);
      assert.ok(await describe(c, v.path), "still linked to a");
      await c.call({ unlinkVolume: { path: v.path, container: a } });
      assert.equal(await describe(c, v.path), undefined);
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it("refuses relative link targets (InvalidPath) and unknown volumes (VolumeNotFound)", async () => {
    const c = await t().connect();
    const name = t().name("rel");
    await c.call({ create: { name } });
    const v = (await c.call({ createVolume: { properties: [mine(), { name: "containers", value: name }] } })).volumeDescription!;
    assert.equal(await c.code({ LinkVolumeTarget: { path: v.path, container: name, target: "relative/dir" } }), EError.InvalidPath);
    assert.equal(await c.code({ linkVolume: { path: `${v.path}-nope`, container: name } }), EError.VolumeNotFound);
    assert.equal(await c.code({ listVolumes: { path: `${v.path}-nope` } }), EError.VolumeNotFound);
  });

  it("refuses unknown and read-only properties in createVolume (InvalidProperty)", async () => {
    const c = await t().connect();
    assert.equal(await c.code({ createVolume: { properties: [mine(), { name: "no_such", value: "1" }] } }), EError.InvalidProperty);
    assert.equal(await c.code({ createVolume: { properties: [mine(), { name: "state", value: "ready" }] } }), EError.InvalidProperty);
  });

  it("needs an existing directory for an explicit path, and one volume per path", async () => {
    const c = await t().connect();
    const name = t().name("explicit");
    await c.call({ create: { name } });
    const dir = mkdtempSync(join(tmpdir(), `${t().prefix}-vol-`));
    try {
      assert.equal(
        await c.code({ createVolume: { path: join(dir, "missing"), properties: [mine(), { name: "containers", value: name }] } }),
        EError.InvalidPath,
      );
      const v = (await c.call({ createVolume: { path: dir, properties: [mine(), { name: "containers", value: name }, { name: "backend", value: "plain" }] } })).volumeDescription!;
      assert.equal(v.path, dir);
      assert.equal(
        await c.code({ createVolume: { path: dir, properties: [mine(), { name: "containers", value: name }] } }),
        EError.VolumeAlreadyExists,
      );
      await c.call({ unlinkVolume: { path: dir, container: "***" } });
      assert.equal(await describe(c, dir), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("creates typed volumes with NewVolume and reads them with GetVolume", async () => {
    const c = await t().connect();
    const name = t().name("typed");
    await c.call({ create: { name } });
    const made = (
      await c.call({ NewVolume: { volume: { backend: "plain", privateValue: t().prefix, links: [{ container: name }] } } })
    ).NewVolume!.volume!;
    assert.equal(made.state, "ready");
    assert.equal(made.backend, "plain");
    assert.equal(made.autoPath, true);
    assert.deepEqual(
      made.links.map((l) => l.container),
      [name],
    );
    const got = (await c.call({ GetVolume: { path: [made.path] } })).GetVolume!.volume;
    assert.equal(got.length, 1);
    assert.equal(got[0].path, made.path);
    assert.equal(got[0].id, made.id);
    assert.equal(await c.code({ GetVolume: { path: [`${made.path}-nope`] } }), EError.VolumeNotFound);
  });

  it("links CreateFromSpec volumes to the container only when the volume spec names it; destroyed with it", async () => {
    const c = await t().connect();
    const name = t().name("withvol");
    const rsp = await c.call({
      CreateFromSpec: { container: { name }, volumes: [{ backend: "plain", privateValue: t().prefix, links: [{ container: name }] }] },
    });
    assert.equal(rsp.error, EError.Success);
    const mineNow = (await c.call({ GetVolume: {} })).GetVolume!.volume.filter((v) => v.privateValue === t().prefix);
    const linked = mineNow.filter((v) => v.links.some((l) => l.container === name));
    assert.equal(linked.length, 1);
    await c.call({ destroy: { name } });
    assert.equal(await describe(c, linked[0].path), undefined);
  });

  it("links CreateFromSpec volumes without links to `/`, not to the new container (portod 5.3.59 copies the spec)", async () => {
    const c = await t().connect();
    const name = t().name("leakvol");
    const marker = `${t().prefix}-leak`;
    await c.call({ CreateFromSpec: { container: { name }, volumes: [{ backend: "plain", privateValue: marker }] } });
    const [v] = (await c.call({ GetVolume: {} })).GetVolume!.volume.filter((x) => x.privateValue === marker);
    try {
      assert.deepEqual(
        v.links.map((l) => l.container),
        ["/"],
      );
      await c.call({ destroy: { name } });
      assert.ok(await describe(c, v.path), "the volume outlives the container");
    } finally {
      await c.raw({ unlinkVolume: { path: v.path, container: "***" } });
    }
  });
});
