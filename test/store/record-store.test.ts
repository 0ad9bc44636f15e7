import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordStore } from "../../src/store/record-store.js";

test("records survive a reload, byte-exact, and deletes are idempotent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "records-"));
  try {
    const a = new RecordStore<{ v: string }>({ dir });
    await a.load();
    const value = "ünïcødé ✓ \u0000 " + "x".repeat(300_000);
    await a.put("abc", { v: value });
    await a.put("def", { v: "1" });
    await a.delete("def");
    await a.delete("def");
    const b = new RecordStore<{ v: string }>({ dir });
    await b.load();
    assert.equal(b.get("abc")?.v, value);
    assert.equal(b.has("def"), false);
    assert.deepEqual([...b.ids()], ["abc"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a torn temporary file is dropped and a corrupt record set aside, not loaded", async () => {
  const dir = await mkdtemp(join(tmpdir(), "records-"));
  try {
    await writeFile(join(dir, "abc.json.tmp-1234"), '{"v":');
    await writeFile(join(dir, "bad.json"), "{not json");
    const corrupt: string[] = [];
    const s = new RecordStore<{ v: string }>({ dir, onCorrupt: (f) => corrupt.push(f) });
    await s.load();
    assert.equal(s.size, 0);
    assert.deepEqual(corrupt, [join(dir, "bad.json")]);
    assert.deepEqual((await readdir(dir)).sort(), ["bad.json.corrupt"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("ids that could escape the directory are refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "records-"));
  try {
    const s = new RecordStore<object>({ dir });
    await s.load();
    await assert.rejects(s.put("../x", {}), /invalid record id/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
