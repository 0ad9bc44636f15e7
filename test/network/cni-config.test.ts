import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareCniVersions, hasCheckAndCachedDel, loadCniConfig, parseCniConfig } from "../../src/network/cni-config.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "cni-config-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("a .conf becomes a one-plugin list with its name and version", () => {
  const c = parseCniConfig("/x/10-a.conf", JSON.stringify({ cniVersion: "0.4.0", name: "a", type: "bridge", bridge: "br9" }));
  assert.equal(c.name, "a");
  assert.equal(c.cniVersion, "0.4.0");
  assert.equal(c.disableCheck, false);
  assert.deepEqual(c.plugins, [{ cniVersion: "0.4.0", name: "a", type: "bridge", bridge: "br9" }]);
});

test("a conflist keeps its plugins and disableCheck", () => {
  const c = parseCniConfig(
    "/x/10-a.conflist",
    JSON.stringify({ cniVersion: "1.0.0", name: "a", disableCheck: true, plugins: [{ type: "bridge" }, { type: "portmap" }] }),
  );
  assert.deepEqual(c.plugins.map((p) => p.type), ["bridge", "portmap"]);
  assert.equal(c.disableCheck, true);
});

test("unusable configs are refused with the reason", () => {
  const bad: Array<[string, unknown, RegExp]> = [
    ["a.conflist", { cniVersion: "1.0.0", name: "a", plugins: [] }, /no plugins/],
    ["a.conflist", { cniVersion: "1.0.0", plugins: [{ type: "x" }] }, /no network name/],
    ["a.conf", { cniVersion: "1.0.0", name: "a", plugins: [{ type: "x" }] }, /plugin 0 has no type/],
    ["a.conf", { cniVersion: "0.2.0", name: "a", type: "x" }, /cniVersion "0.2.0" is not supported/],
    ["a.conf", { cniVersion: 1, name: "a", type: "x" }, /cniVersion is not a string/],
    ["a.conf", { cniVersion: "1.0.0", name: "a", type: "../../bin/sh" }, /invalid type/],
  ];
  for (const [file, obj, re] of bad) assert.throws(() => parseCniConfig(file, JSON.stringify(obj)), re);
});

test("the first usable file in lexical order wins; broken ones are skipped and named", async () => {
  const d = join(dir, "order");
  await mkdir(d);
  await writeFile(join(d, "05-broken.conflist"), "{");
  await writeFile(join(d, "10-b.conf"), JSON.stringify({ cniVersion: "1.0.0", name: "b", type: "bridge" }));
  await writeFile(join(d, "20-a.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "a", plugins: [{ type: "bridge" }] }));
  await writeFile(join(d, "00-ignored.txt"), "x");
  const r = await loadCniConfig(d);
  assert.ok(r.ok);
  assert.equal(r.config.name, "b");
  const empty = join(dir, "empty");
  await mkdir(empty);
  const none = await loadCniConfig(empty);
  assert.ok(!none.ok);
  assert.equal(none.reason, "NetworkPluginNotReady");
  assert.match(none.message, /no usable network config found/);
});

test("spec versions compare numerically; CHECK and cached DEL start at 0.4.0", () => {
  assert.equal(compareCniVersions("0.10.0", "0.4.0"), 1);
  assert.equal(compareCniVersions("1.0.0", "1.0.0"), 0);
  assert.equal(compareCniVersions("0.3.1", "0.4.0"), -1);
  assert.deepEqual(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"].map(hasCheckAndCachedDel), [false, false, true, true, true]);
});
