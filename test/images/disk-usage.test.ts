import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { link, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CachedDiskUsage, measureDir } from "../../src/images/disk-usage.js";
import type { DiskUsage } from "../../src/images/disk-usage.js";

describe("disk usage of a directory", () => {
  test("blocks and inodes of everything below, hard links once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "du-"));
    try {
      const empty = await measureDir(dir);
      assert.equal(empty.inodes, 1n);
      await mkdir(join(dir, "a", "b"), { recursive: true });
      await writeFile(join(dir, "a", "b", "f"), Buffer.alloc(64 * 1024, 1));
      await link(join(dir, "a", "b", "f"), join(dir, "a", "g"));
      const u = await measureDir(dir);
      assert.equal(u.inodes, 4n, "dir, a, a/b, one file");
      const f = await stat(join(dir, "a", "b", "f"));
      assert.ok(u.bytes >= BigInt(f.blocks * 512), `${u.bytes}`);
      assert.ok(u.bytes < BigInt(f.blocks * 512) * 2n + 64n * 1024n, "the hard link is not counted twice");
      assert.ok(u.timestampNs > 0n);
      assert.equal(typeof u.dev, "bigint");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a missing directory uses nothing", async () => {
    const u = await measureDir("/nonexistent/portoshim-du");
    assert.equal(u.bytes, 0n);
    assert.equal(u.inodes, 0n);
    assert.equal(u.dev, undefined);
  });

  test("the cache walks once per TTL, one walk for concurrent callers", async () => {
    let walks = 0;
    const fake = async (): Promise<DiskUsage> => {
      walks++;
      await new Promise((r) => setTimeout(r, 20));
      return { bytes: BigInt(walks), inodes: 1n, timestampNs: 1n };
    };
    const c = new CachedDiskUsage("/x", 60, fake);
    const [a, b] = await Promise.all([c.get(), c.get()]);
    assert.equal(walks, 1);
    assert.equal(a, b);
    assert.equal((await c.get()).bytes, 1n);
    await new Promise((r) => setTimeout(r, 70));
    assert.equal((await c.get()).bytes, 2n);
  });
});
