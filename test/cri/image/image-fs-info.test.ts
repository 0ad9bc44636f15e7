import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CachedDiskUsage } from "../../../src/images/disk-usage.js";
import { imageFsInfo } from "../../../src/cri/image/image-fs-info.js";
import { CONFIGS, startHarness } from "./harness.js";
import type { Harness } from "./harness.js";

describe("ImageFsInfo", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  test("the image store's own usage, its mountpoint and when it was measured", async () => {
    const empty = await h.image.imageFsInfo({});
    assert.equal(empty.imageFilesystems.length, 1);
    const e = empty.imageFilesystems[0]!;
    assert.equal(e.fsId?.mountpoint, h.imagesDir);
    assert.equal(e.usedBytes?.value, 0n, "nothing pulled, no store yet");

    h.publish("fs/app", "1", { ...CONFIGS.plain, marker: "fs" });
    await h.image.pullImage({ image: { image: `${h.registry.host}/fs/app:1` } });
    const full = (await h.image.imageFsInfo({})).imageFilesystems[0]!;
    assert.ok(full.usedBytes!.value > 0n);
    // porto_docker, v1, images, <xx>, <id>, layers + three files.
    assert.ok(full.inodesUsed!.value >= 9n, `${full.inodesUsed!.value}`);
    const now = BigInt(Date.now()) * 1_000_000n;
    assert.ok(full.timestamp > now - 60_000_000_000n && full.timestamp <= now);
  });

  test("container filesystems only when containers' data sits on another filesystem", async () => {
    assert.deepEqual((await h.image.imageFsInfo({})).containerFilesystems, [], "same filesystem here");
    const fake = (dir: string, dev: bigint) =>
      new CachedDiskUsage(dir, 0, async () => ({ bytes: 4096n, inodes: 2n, timestampNs: 1n, dev }));
    const split = await imageFsInfo({ ...h.deps, imageStoreUsage: fake("/place/porto_docker", 1n), volumesUsage: fake("/ssd/volumes", 2n) });
    assert.equal(split.containerFilesystems.length, 1);
    assert.equal(split.containerFilesystems[0]!.fsId?.mountpoint, "/ssd/volumes");
    assert.equal(split.containerFilesystems[0]!.usedBytes?.value, 4096n);
  });
});
