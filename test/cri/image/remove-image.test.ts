import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { CONFIGS, startHarness } from "./harness.js";
import type { Harness } from "./harness.js";

const codeOf = (e: unknown) => ConnectError.from(e).code;

describe("RemoveImage", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  async function pullTags(path: string, tags: string[], marker: string): Promise<{ id: string; refs: string[]; manifest: string }> {
    let manifest = "";
    const refs = tags.map((t) => {
      manifest = h.publish(path, t, { ...CONFIGS.plain, marker }).manifest;
      return `${h.registry.host}/${path}:${t}`;
    });
    let id = "";
    for (const image of refs) id = (await h.image.pullImage({ image: { image } })).imageRef;
    return { id, refs, manifest };
  }

  const gone = async (image: string) => assert.equal((await h.image.imageStatus({ image: { image } })).image, undefined, image);

  test("by one tag: the image goes with all its names (CRI's RemoveImage semantics)", async () => {
    const { id, refs, manifest } = await pullTags("rm/tags", ["1", "2"], "tags");
    await h.image.removeImage({ image: { image: refs[0] } });
    for (const r of [...refs, id, `${h.registry.host}/rm/tags@${manifest}`]) await gone(r);
    assert.equal(h.double.state.images.store.has(id.slice(7)), false);
  });

  test("by id, by short id and by digest", async () => {
    const a = await pullTags("rm/a", ["1"], "a");
    await h.image.removeImage({ image: { image: a.id } });
    await gone(a.refs[0]!);
    const b = await pullTags("rm/b", ["1"], "b");
    await h.image.removeImage({ image: { image: b.id.slice(7, 20) } });
    await gone(b.id);
    const c = await pullTags("rm/c", ["1"], "c");
    await h.image.removeImage({ image: { image: `${h.registry.host}/rm/c@${c.manifest}` } });
    await gone(c.id);
    const d = h.publish("rm/d", "1", { ...CONFIGS.plain, marker: "d" });
    const pinned = `${h.registry.host}/rm/d@${d.manifest}`;
    await h.image.pullImage({ image: { image: pinned } });
    await h.image.removeImage({ image: { image: pinned } });
    await gone(d.config);
  });

  test("an absent image: success, as often as asked", async () => {
    for (const image of ["busybox:nope", `sha256:${"0f".repeat(32)}`, `r.io/x@sha256:${"1e".repeat(32)}`]) {
      await h.image.removeImage({ image: { image } });
      await h.image.removeImage({ image: { image } });
    }
    await assert.rejects(h.image.removeImage({}), (e: unknown) => codeOf(e) === Code.InvalidArgument);
  });

  test("an image a container's volume is built from is refused until the volume is gone", async () => {
    const { id, refs } = await pullTags("rm/used", ["1"], "used");
    const hex = id.slice(7);
    const layers = h.double.state.images.store.get(hex)!.layers;
    // As the container lifecycle builds root volumes: image named by id.
    const byImage = await h.porto.newVolume({ backend: "overlay", image: hex });
    await assert.rejects(h.image.removeImage({ image: { image: refs[0] } }), (e: unknown) => {
      assert.equal(codeOf(e), Code.FailedPrecondition);
      assert.match(ConnectError.from(e).rawMessage, /in use/);
      return true;
    });
    await h.porto.unlinkVolume(byImage.path!, "***");
    // As portod reports volumes built from images: their layers.
    const byLayers = await h.porto.newVolume({ backend: "overlay", layers });
    await assert.rejects(h.image.removeImage({ image: { image: id } }), (e: unknown) => codeOf(e) === Code.FailedPrecondition);
    await h.porto.unlinkVolume(byLayers.path!, "***");
    await h.image.removeImage({ image: { image: id } });
    await gone(id);
  });

  test("a volume on a layer another image also has does not hold this one back", async () => {
    const shared = "ab".repeat(32);
    const base = h.publish("rm/base", "1", { ...CONFIGS.plain, marker: "base" }, { layers: [shared] });
    const derived = h.publish("rm/derived", "1", { ...CONFIGS.plain, marker: "derived" }, { layers: [shared, "cd".repeat(32)] });
    await h.image.pullImage({ image: { image: `${h.registry.host}/rm/base:1` } });
    await h.image.pullImage({ image: { image: `${h.registry.host}/rm/derived:1` } });
    const vol = await h.porto.newVolume({ backend: "overlay", layers: ["cd".repeat(32), shared] });
    try {
      await h.image.removeImage({ image: { image: base.config } });
      await gone(base.config);
      await assert.rejects(h.image.removeImage({ image: { image: derived.config } }), (e: unknown) => codeOf(e) === Code.FailedPrecondition);
    } finally {
      await h.porto.unlinkVolume(vol.path!, "***");
    }
  });
});
