/**
 * Real network namespaces (root only): unshare into a private directory, and
 * `ip netns` in /var/run/netns where portod looks them up.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createNetns,
  isNetnsMounted,
  listNetns,
  netnsNameFor,
  podIdOfNetns,
  portoNetnsName,
  removeNetns,
  usesIproute,
} from "../../src/network/netns.js";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root (network namespaces and mounts)";

describe("names (no root needed)", () => {
  test("ours are prefixed, and portod's name is relative to /var/run/netns", () => {
    assert.equal(netnsNameFor("ab"), "portoshim-ab");
    assert.equal(podIdOfNetns("portoshim-ab"), "ab");
    assert.equal(podIdOfNetns("cni-1234"), undefined);
    assert.equal(podIdOfNetns("portoshim-"), undefined);
    assert.equal(portoNetnsName("/var/run/netns", "portoshim-ab"), "portoshim-ab");
    assert.equal(portoNetnsName("/run/netns/", "x"), "x");
    assert.equal(portoNetnsName("/var/run/netns/pods", "x"), "pods/x");
    assert.equal(portoNetnsName("/tmp/netns", "x"), undefined);
    assert.equal(usesIproute("/var/run/netns"), true);
    assert.equal(usesIproute("/run/netns/"), true);
    assert.equal(usesIproute("/var/run/netns/pods"), false);
  });

  test("names that could reach another path are refused", async () => {
    await assert.rejects(createNetns("/tmp", "../x"), /invalid network namespace name/);
    await assert.rejects(removeNetns("/tmp", "a b"), /invalid network namespace name/);
  });
});

describe("unshare into a private directory", { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "netns-"));
  });
  after(async () => {
    for (const n of await listNetns(dir).catch(() => [])) await removeNetns(dir, n).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  test("create mounts a namespace with lo up; remove unmounts and deletes it; both idempotent where kubelet retries", async () => {
    const name = netnsNameFor(`u${process.pid}`);
    const path = await createNetns(join(dir, "sub"), name);
    assert.equal(path, join(dir, "sub", name));
    assert.equal(await isNetnsMounted(path), true);
    const lo = JSON.parse(execFileSync("nsenter", [`--net=${path}`, "ip", "-j", "link", "show", "lo"], { encoding: "utf8" })) as Array<{ flags: string[] }>;
    assert.ok(lo[0]!.flags.includes("UP"), JSON.stringify(lo));
    // A fresh namespace: no interface but lo.
    const links = JSON.parse(execFileSync("nsenter", [`--net=${path}`, "ip", "-j", "link"], { encoding: "utf8" })) as unknown[];
    assert.equal(links.length, 1);
    assert.deepEqual(await listNetns(join(dir, "sub")), [name]);
    await assert.rejects(createNetns(join(dir, "sub"), name), /EEXIST/);
    await removeNetns(join(dir, "sub"), name);
    assert.equal(existsSync(path), false);
    await removeNetns(join(dir, "sub"), name);
    assert.deepEqual(await listNetns(join(dir, "absent")), []);
  });

  test("a plain file is not a mounted namespace, and removing it just deletes it", async () => {
    const name = netnsNameFor("plain");
    await writeFile(join(dir, name), "");
    assert.equal(await isNetnsMounted(join(dir, name)), false);
    await removeNetns(dir, name);
    assert.equal(existsSync(join(dir, name)), false);
  });
});

describe("ip netns in /var/run/netns", { skip }, () => {
  const name = netnsNameFor(`iptest-${process.pid}`);
  after(async () => {
    await removeNetns("/var/run/netns", name).catch(() => {});
  });

  test("ip netns sees it, lo is up, and it goes away", async () => {
    const path = await createNetns("/var/run/netns", name);
    assert.equal(path, `/var/run/netns/${name}`);
    assert.ok(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).includes(name));
    const lo = execFileSync("ip", ["-n", name, "-br", "link", "show", "lo"], { encoding: "utf8" });
    assert.match(lo, /UNKNOWN|UP/);
    assert.equal(await isNetnsMounted(path), true);
    await removeNetns("/var/run/netns", name);
    assert.ok(!execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).includes(name));
    await removeNetns("/var/run/netns", name);
  });
});
