import { test } from "node:test";
import assert from "node:assert/strict";
import { LayerUsage } from "../../src/runtime/layer-usage.js";
import type { DiskUsage } from "../../src/images/disk-usage.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the first call waits for a walk; later ones get the cached figure, refreshed in the background once stale", async () => {
  let n = 0;
  const layers = new LayerUsage({
    ttlMs: 50,
    measure: async () => {
      n++;
      await sleep(20);
      return { bytes: BigInt(n), inodes: 1n, timestampNs: BigInt(n) } satisfies DiskUsage;
    },
  });
  assert.equal((await layers.get("/d")).bytes, 1n);
  assert.equal((await layers.get("/d")).bytes, 1n, "fresh: cached");
  await sleep(60);
  const started = Date.now();
  assert.equal((await layers.get("/d")).bytes, 1n, "stale: served at once");
  assert.ok(Date.now() - started < 15, "without waiting for the walk");
  await sleep(40);
  assert.equal((await layers.get("/d")).bytes, 2n, "the background walk's figure");
  assert.equal(n, 2);
});

test("concurrent callers share one walk; walks are limited in number", async () => {
  let active = 0;
  let peak = 0;
  let walks = 0;
  const layers = new LayerUsage({
    concurrency: 2,
    measure: async () => {
      walks++;
      active++;
      peak = Math.max(peak, active);
      await sleep(10);
      active--;
      return { bytes: 1n, inodes: 1n, timestampNs: 1n };
    },
  });
  await Promise.all([layers.get("/a"), layers.get("/a"), layers.get("/b"), layers.get("/c"), layers.get("/d")]);
  assert.equal(walks, 4, "/a once");
  assert.equal(peak, 2);
});

test("a failed first walk rejects; it is tried again on the next call", async () => {
  let fail = true;
  const layers = new LayerUsage({
    measure: async () => {
      if (fail) throw new Error("EACCES");
      return { bytes: 5n, inodes: 1n, timestampNs: 1n };
    },
  });
  await assert.rejects(layers.get("/x"), /EACCES/);
  fail = false;
  assert.equal((await layers.get("/x")).bytes, 5n);
});
