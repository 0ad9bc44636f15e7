/**
 * Contracts the stats and resource-update code relies on: usage figures in
 * one batched `get` (cpu_usage in nanoseconds, memory.stat passed through
 * with cgroup v1's hierarchical `total_` keys), what a stopped container
 * answers, a memory limit below the anonymous memory refused with Busy while
 * the rest of the same UpdateFromSpec is rolled back, and where an overlay
 * volume keeps what is written to it.
 *
 * The double has no cgroups: a test sets its figures (porto-double/usage.ts)
 * where portod measures a real process.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EError } from "../../../gen/rpc_pb.js";
import { setUsage } from "../../porto-double/index.js";
import { contract } from "./targets.js";
import type { Target } from "./targets.js";
import type { RawPorto } from "./raw-porto.js";

const BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2";
const MB = 1n << 20n;

/** A script that keeps ~30 MB of anonymous memory (a shell variable) and burns a little CPU first. */
let hogDir: string | undefined;
function memoryHog(): string {
  if (!hogDir) {
    hogDir = mkdtempSync(join(tmpdir(), "usage-contract-"));
    const dir = hogDir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(hogDir, "hog.sh");
  writeFileSync(path, "#!/bin/sh\ni=0\nwhile [ $i -lt 20000 ]; do i=$((i+1)); done\nx=$(head -c 30000000 /dev/zero | tr '\\0' a)\nsleep 1000\n");
  chmodSync(path, 0o755);
  return path;
}

async function startHog(t: Target, c: RawPorto, name: string): Promise<void> {
  await c.call({ create: { name } });
  await c.set(name, "command", memoryHog());
  await c.call({ start: { name } });
  if (t.double) {
    setUsage(t.double.state.containers.get(name)!, { cpuUsageNs: 40_000_000n, anonBytes: 30n * MB, cacheBytes: 4n * MB, inactiveFileBytes: 3n * MB, pgfault: 900n });
    return;
  }
  // Until the shell holds its 30 MB.
  for (let i = 0; i < 100; i++) {
    if (BigInt(await c.get(name, "anon_usage")) > 25n * MB) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail("the hog never grew");
}

function statMap(text: string): Map<string, bigint> {
  return new Map(
    text
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .map(([k, v]) => [k, BigInt(v)] as [string, bigint]),
  );
}

contract("usage and resource updates", (t) => {
  it("gives usage of many containers in one get: cpu_usage in ns, memory_usage, memory.stat with total_ keys", async () => {
    const c = await t().connect();
    const hog = t().name("hog");
    const idle = t().name("idle");
    await startHog(t(), c, hog);
    await c.call({ create: { name: idle } });
    const rsp = await c.call({ get: { name: [hog, idle], variable: ["state", "cpu_usage", "memory_usage", "memory.stat", "process_count"] } });
    const [h, i] = rsp.get!.list;
    const v = (e: typeof h, p: string) => e.keyval.find((k) => k.variable === p)!;
    assert.equal(v(h, "state").value, "running");
    assert.ok(BigInt(v(h, "cpu_usage").value) > 1_000_000n, "nanoseconds: more than 1 ms of CPU");
    const stat = statMap(v(h, "memory.stat").value);
    for (const key of ["rss", "cache", "inactive_file", "pgfault", "pgmajfault", "total_rss", "total_cache", "total_inactive_file", "total_pgfault", "total_pgmajfault", "total_mapped_file"]) {
      assert.ok(stat.has(key), `memory.stat has ${key}`);
    }
    assert.ok(stat.get("total_rss")! > 25n * MB);
    assert.ok(BigInt(v(h, "memory_usage").value) >= stat.get("total_rss")!, "usage includes the anonymous memory");
    assert.ok(BigInt(v(h, "memory_usage").value) >= stat.get("total_inactive_file")!, "and the inactive file cache");
    assert.ok(BigInt(v(h, "process_count").value) >= 1n);
    // A stopped container has no cgroups: every figure is refused in its own slot, not the whole get.
    assert.equal(v(i, "state").value, "stopped");
    for (const p of ["cpu_usage", "memory_usage", "process_count"]) assert.equal(v(i, p).error, EError.InvalidState, p);
    assert.equal(v(i, "memory.stat").error, EError.InvalidState);
    assert.equal(v(i, "memory.stat").errorMsg, "Not available in stopped state: memory.stat");
  });

  it("refuses a memory limit below the anonymous memory (Busy), and keeps the rest of that UpdateFromSpec unapplied", async () => {
    const c = await t().connect();
    const hog = t().name("limit");
    await startHog(t(), c, hog);
    const rsp = await c.raw({ UpdateFromSpec: { container: { name: hog, cpuLimit: 1.5, memoryLimit: 2n * MB } } });
    assert.equal(rsp.error, EError.Busy, rsp.errorMsg);
    assert.equal(rsp.errorMsg, "Memory limit is too low for current memory usage");
    assert.equal(await c.get(hog, "cpu_limit"), "0c", "the CPU limit of the refused update is not in force");
    assert.equal(await c.get(hog, "memory_limit"), "0");
    // A limit the cache can be reclaimed to is taken, with everything else in the update.
    await c.call({ UpdateFromSpec: { container: { name: hog, cpuLimit: 1.5, memoryLimit: 64n * MB } } });
    assert.equal(await c.get(hog, "cpu_limit"), "1.5c");
    assert.equal(await c.get(hog, "memory_limit"), String(64n * MB));
  });

  it("cannot add CPU limits to a running child started without CPU settings (NotSupported), memory still changes", async () => {
    if (t().double) return; // not modelled: the double enables every controller (README)
    const c = await t().connect();
    const parent = t().name("nocpu");
    const name = `${parent}/child`;
    await c.call({ create: { name: parent } });
    await c.call({ create: { name } });
    await c.set(name, "command", "sleep 1000");
    await c.set(name, "memory_limit", String(32n * MB));
    await c.call({ start: { name } });
    // A nested container gets only the controllers its properties need (a top-level one gets all).
    const controllers = (await c.get(name, "controllers")).split(";");
    assert.ok(controllers.includes("memory") && !controllers.includes("cpu"), controllers.join(";"));
    for (const [p, v] of [["cpu_limit", "0.5c"], ["cpu_guarantee", "0c"], ["cpu_limit", "0c"]]) {
      const rsp = await c.raw({ setProperty: { name, property: p, value: v } });
      assert.equal(rsp.error, EError.NotSupported, `${p}=${v}`);
      assert.equal(rsp.errorMsg, "Cannot enable controllers in runtime");
    }
    await c.call({ UpdateFromSpec: { container: { name, memoryLimit: 64n * MB } } });
    assert.equal(await c.get(name, "memory_limit"), String(64n * MB));
  });

  it("keeps an overlay volume's writes in <place>/porto_volumes/<id>/overlay/upper", async () => {
    const c = await t().connect();
    if (t().double) await c.call({ pullDockerImage: { name: BUSYBOX } });
    else if ((await c.raw({ dockerImageStatus: { name: BUSYBOX } })).error !== EError.Success) {
      return; // this portod has no busybox: nothing to build an overlay from
    }
    const name = t().name("overlay");
    await c.call({ create: { name } });
    const v = (
      await c.call({ NewVolume: { volume: { backend: "overlay", image: BUSYBOX, privateValue: t().prefix, links: [{ container: name }] } } })
    ).NewVolume!.volume!;
    const upper = join(v.place || "/place", "porto_volumes", v.id, "overlay", "upper");
    assert.ok(statSync(upper).isDirectory(), upper);
    if (t().kind === "portod") {
      // Through the mounted overlay: the file lands in the upper directory only.
      writeFileSync(join(v.path, "usage-probe"), "x".repeat(5000));
      assert.equal(readFileSync(join(upper, "usage-probe"), "utf8").length, 5000);
      assert.ok(existsSync(join(v.path, "bin", "busybox")), "the image's files are visible through the volume");
      assert.ok(!existsSync(join(upper, "bin", "busybox")), "but not copied into the upper layer");
    }
    await c.call({ destroy: { name } });
    assert.ok(!existsSync(upper), "destroyed with the volume");
  });
}, { images: [{ name: BUSYBOX, cmd: ["sh"] }] });
