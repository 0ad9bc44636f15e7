import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CONFIGS, startHarness } from "./harness.js";
import type { Harness } from "./harness.js";

describe("ListImages and StreamImages", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  test("nothing pulled: nothing listed, and no stream message", async () => {
    assert.deepEqual((await h.image.listImages({})).images, []);
    const batches = [];
    for await (const b of h.image.streamImages({})) batches.push(b);
    assert.equal(batches.length, 0);
  });

  test("three tags of one image: one image with three repo tags (critest)", async () => {
    const names = ["1", "2", "3"].map((t) => {
      h.publish("team/tags", t, { ...CONFIGS.plain, marker: "tags" });
      return `${h.registry.host}/team/tags:${t}`;
    });
    const ids = new Set<string>();
    for (const image of names) ids.add((await h.image.pullImage({ image: { image } })).imageRef);
    assert.equal(ids.size, 1);
    const img = (await h.image.listImages({})).images.find((i) => ids.has(i.id))!;
    assert.deepEqual(img.repoTags, names);
    assert.equal(img.repoDigests.length, 1, "one manifest behind all three tags");
  });

  test("three images: three entries with one repo tag each (critest)", async () => {
    const refs = ["a", "b", "c"].map((n) => {
      h.publish(`team/${n}`, "latest", { ...CONFIGS.plain, marker: n });
      return `${h.registry.host}/team/${n}:latest`;
    });
    const ids = [];
    for (const image of refs) ids.push((await h.image.pullImage({ image: { image } })).imageRef);
    assert.equal(new Set(ids).size, 3);
    const list = (await h.image.listImages({})).images;
    ids.forEach((id, i) => assert.deepEqual(list.find((x) => x.id === id)?.repoTags, [refs[i]]));
  });

  test("a filter names one image, by any reference; a stream carries the same images", async () => {
    const all = (await h.image.listImages({})).images;
    const one = all.find((i) => i.repoTags.includes(`${h.registry.host}/team/b:latest`))!;
    const byTag = await h.image.listImages({ filter: { image: { image: `${h.registry.host}/team/b:latest` } } });
    assert.deepEqual(byTag.images, [one]);
    const byRepo = await h.image.listImages({ filter: { image: { image: `${h.registry.host}/team/b` } } });
    assert.deepEqual(byRepo.images, [one]);
    const tagsRepo = await h.image.listImages({ filter: { image: { image: `${h.registry.host}/team/tags` } } });
    assert.equal(tagsRepo.images.length, 1);
    assert.equal(tagsRepo.images[0]!.repoTags.length, 3, "a bare repository lists every tag");
    assert.deepEqual((await h.image.listImages({ filter: { image: { image: `${h.registry.host}/team/tags:9` } } })).images, []);
    assert.deepEqual((await h.image.listImages({ filter: { image: { image: one.id.slice(7, 19) } } })).images, [one]);
    const byId = await h.image.listImages({ filter: { image: { image: one.id } } });
    assert.deepEqual(byId.images, [one]);
    assert.deepEqual((await h.image.listImages({ filter: { image: { image: `${h.registry.host}/team/none` } } })).images, []);
    const streamed = [];
    for await (const b of h.image.streamImages({})) streamed.push(...b.images);
    assert.deepEqual(streamed, all);
  });
});
