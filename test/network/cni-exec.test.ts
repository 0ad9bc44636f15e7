import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  addNetworkList,
  checkNetworkList,
  CniPluginError,
  delNetworkList,
  formatCniArgs,
  pluginStdin,
} from "../../src/network/cni-exec.js";
import type { CniExecOptions, CniNetworkList, CniRuntimeConf } from "../../src/network/cni-exec.js";
import { captureLogger, fakeResult, invocations, writeFakePlugin } from "./fake-plugins.js";

let dir: string;
let bin: string;
let log: string;

const rt: CniRuntimeConf = {
  containerId: "c0ffee",
  netnsPath: "/var/run/netns/test",
  ifName: "eth0",
  args: [
    ["IgnoreUnknown", "1"],
    ["K8S_POD_NAMESPACE", "ns"],
    ["K8S_POD_NAME", "pod"],
  ],
  capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], dns: { servers: ["10.0.0.10"] } },
};

function opts(extra: Partial<CniExecOptions> = {}): CniExecOptions {
  return { binDir: bin, timeoutMs: 10_000, ...extra };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "cni-exec-"));
  bin = join(dir, "bin");
  log = join(dir, "calls.log");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fresh(name: string): Promise<string> {
  log = join(dir, `${name}.log`);
  return log;
}

describe("pluginStdin", () => {
  test("injects name, cniVersion and prevResult, and only declared capabilities", () => {
    const list = { name: "net", cniVersion: "1.0.0" };
    const conf = pluginStdin(
      list,
      { type: "portmap", capabilities: { portMappings: true, bandwidth: true, dns: false }, name: "ignored", runtimeConfig: { x: 1 } },
      { ips: [] },
      { portMappings: [1], dns: { servers: [] } },
    );
    assert.deepEqual(conf, {
      type: "portmap",
      capabilities: { portMappings: true, bandwidth: true, dns: false },
      name: "net",
      cniVersion: "1.0.0",
      prevResult: { ips: [] },
      runtimeConfig: { portMappings: [1] },
    });
  });

  test("a runtimeConfig written in the file stays when no capability applies", () => {
    const conf = pluginStdin({ name: "n", cniVersion: "0.4.0" }, { type: "x", runtimeConfig: { a: 1 }, prevResult: { stale: true } }, undefined, { dns: {} });
    assert.deepEqual(conf, { type: "x", runtimeConfig: { a: 1 }, name: "n", cniVersion: "0.4.0" });
  });

  test("CNI_ARGS refuses values that would split", () => {
    assert.equal(formatCniArgs([["A", "1"], ["B", "x=y"]]), "A=1;B=x=y");
    assert.throws(() => formatCniArgs([["A", "1;B=2"]]), /cannot carry/);
    assert.throws(() => formatCniArgs([["A=B", "1"]]), /cannot carry/);
  });
});

describe("running a list", () => {
  test("ADD chains prevResult in order; DEL runs in reverse with the ADD result; CHECK in order", async () => {
    const l = await fresh("chain");
    const ra = fakeResult(rt.netnsPath, "10.1.0.2/24");
    const rb = { ...fakeResult(rt.netnsPath, "10.1.0.2/24"), dns: { nameservers: ["10.1.0.1"] } };
    await writeFakePlugin(bin, "chain-a", l, { result: ra });
    await writeFakePlugin(bin, "chain-b", l, { result: rb });
    const list: CniNetworkList = {
      name: "chain",
      cniVersion: "1.0.0",
      plugins: [{ type: "chain-a" }, { type: "chain-b", capabilities: { portMappings: true } }],
    };
    const result = await addNetworkList(list, rt, opts());
    assert.deepEqual(result, rb);
    await checkNetworkList(list, rt, result, opts());
    await delNetworkList(list, rt, result, opts());
    const calls = await invocations(l);
    assert.deepEqual(
      calls.map((c) => `${c.type} ${c.command}`),
      ["chain-a ADD", "chain-b ADD", "chain-a CHECK", "chain-b CHECK", "chain-b DEL", "chain-a DEL"],
    );
    assert.equal(calls[0]!.stdin.prevResult, undefined);
    assert.deepEqual(calls[1]!.stdin.prevResult, ra);
    assert.deepEqual(calls[1]!.stdin.runtimeConfig, { portMappings: rt.capabilityArgs.portMappings });
    assert.equal(calls[0]!.stdin.runtimeConfig, undefined);
    for (const c of calls.slice(2)) assert.deepEqual(c.stdin.prevResult, rb);
    for (const c of calls) {
      assert.equal(c.stdin.name, "chain");
      assert.equal(c.stdin.cniVersion, "1.0.0");
      assert.equal(c.containerId, "c0ffee");
      assert.equal(c.netns, "/var/run/netns/test");
      assert.equal(c.ifName, "eth0");
      assert.equal(c.args, "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod");
      assert.equal(c.path, bin);
    }
  });

  test("below 0.4.0: DEL gets no prevResult and CHECK is refused; disableCheck skips CHECK", async () => {
    const l = await fresh("old");
    await writeFakePlugin(bin, "old-a", l, { result: fakeResult("/x", "10.2.0.2/24") });
    const list: CniNetworkList = { name: "old", cniVersion: "0.3.1", plugins: [{ type: "old-a" }] };
    const result = await addNetworkList(list, rt, opts());
    await delNetworkList(list, rt, result, opts());
    await assert.rejects(checkNetworkList(list, rt, result, opts()), /does not support the CHECK command/);
    await checkNetworkList({ ...list, cniVersion: "0.4.0", disableCheck: true }, rt, result, opts());
    const calls = await invocations(l);
    assert.deepEqual(calls.map((c) => c.command), ["ADD", "DEL"]);
    assert.equal(calls[1]!.stdin.prevResult, undefined);
  });

  test("a plugin printing nothing on ADD passes the previous result on; the first must print one", async () => {
    const l = await fresh("silent");
    await writeFakePlugin(bin, "silent-a", l, { result: fakeResult("/x", "10.3.0.2/24") });
    await writeFakePlugin(bin, "silent-b", l, {});
    const r = await addNetworkList({ name: "s", cniVersion: "1.0.0", plugins: [{ type: "silent-a" }, { type: "silent-b" }] }, rt, opts());
    assert.deepEqual(r, fakeResult("/x", "10.3.0.2/24"));
    await assert.rejects(addNetworkList({ name: "s", cniVersion: "1.0.0", plugins: [{ type: "silent-b" }] }, rt, opts()), /printed no result/);
  });

  test("plugins are found in a ':' list of directories, in order, and CNI_PATH is that list", async () => {
    const l = await fresh("path");
    const second = join(dir, "bin2");
    await writeFakePlugin(second, "only-in-second", l, { result: fakeResult("/x", "10.4.0.2/24") });
    const binDir = `${join(dir, "absent")}:${bin}:${second}`;
    await addNetworkList({ name: "p", cniVersion: "1.0.0", plugins: [{ type: "only-in-second" }] }, rt, opts({ binDir }));
    assert.equal((await invocations(l))[0]!.path, binDir);
    await assert.rejects(
      addNetworkList({ name: "p", cniVersion: "1.0.0", plugins: [{ type: "nowhere" }] }, rt, opts({ binDir })),
      (err: unknown) => err instanceof CniPluginError && /failed to find plugin "nowhere" in path/.test(err.message),
    );
  });
});

describe("failures", () => {
  test("the CNI error JSON becomes a clear error carrying code, msg and details; DEL stops at the failure", async () => {
    const l = await fresh("err");
    await writeFakePlugin(bin, "err-ok", l, { result: fakeResult("/x", "10.5.0.2/24") });
    await writeFakePlugin(bin, "err-bad", l, {
      failOn: ["ADD", "DEL"],
      errorStdout: JSON.stringify({ cniVersion: "1.0.0", code: 7, msg: "bad subnet", details: "10.0.0.0/33 is not a CIDR" }),
    });
    const list: CniNetworkList = { name: "e", cniVersion: "1.0.0", plugins: [{ type: "err-ok" }, { type: "err-bad" }] };
    const err = await addNetworkList(list, rt, opts()).then(
      () => assert.fail("ADD should fail"),
      (e: unknown) => e as CniPluginError,
    );
    assert.ok(err instanceof CniPluginError);
    assert.equal(err.plugin, "err-bad");
    assert.equal(err.command, "ADD");
    assert.equal(err.cniCode, 7);
    assert.equal(err.details, "10.0.0.0/33 is not a CIDR");
    assert.equal(
      err.message,
      'CNI plugin "err-bad" failed (add): bad subnet; 10.0.0.0/33 is not a CIDR (CNI error 7: invalid network config)',
    );
    await assert.rejects(delNetworkList(list, rt, undefined, opts()), /err-bad.*\(del\)/);
    assert.deepEqual((await invocations(l)).map((c) => `${c.type} ${c.command}`), ["err-ok ADD", "err-bad ADD", "err-bad DEL"]);
  });

  test("a failure without error JSON reports the exit status and stderr, which also goes to the log", async () => {
    const l = await fresh("stderr");
    await writeFakePlugin(bin, "grumpy", l, { failOn: ["ADD"], stderr: "cannot open /dev/thing" });
    const { logger, lines } = captureLogger();
    await assert.rejects(
      addNetworkList({ name: "g", cniVersion: "1.0.0", plugins: [{ type: "grumpy" }] }, rt, opts({ logger })),
      { message: 'CNI plugin "grumpy" failed (add): exit status 1: cannot open /dev/thing' },
    );
    const entry = lines.find((x) => x.msg === "CNI plugin failed");
    assert.equal(entry?.stderr, "cannot open /dev/thing");
    assert.equal(entry?.plugin, "grumpy");
  });

  test("stderr of a successful plugin is logged too", async () => {
    const l = await fresh("chatty");
    await writeFakePlugin(bin, "chatty", l, { result: fakeResult("/x", "10.6.0.2/24"), stderr: "warning: something" });
    const { logger, lines } = captureLogger();
    await addNetworkList({ name: "c", cniVersion: "1.0.0", plugins: [{ type: "chatty" }] }, rt, opts({ logger }));
    assert.equal(lines.find((x) => x.msg === "CNI plugin wrote to stderr")?.stderr, "warning: something");
  });

  test("a plugin that hangs is killed at the deadline with what it started", async () => {
    const l = await fresh("hang");
    await writeFakePlugin(bin, "hangs", l, { hangOnAdd: 300, result: fakeResult("/x", "10.7.0.2/24") });
    const started = Date.now();
    const err = await addNetworkList({ name: "h", cniVersion: "1.0.0", plugins: [{ type: "hangs" }] }, rt, opts({ timeoutMs: 300 })).then(
      () => assert.fail("ADD should time out"),
      (e: unknown) => e as CniPluginError,
    );
    assert.ok(Date.now() - started < 5_000);
    assert.ok(err.timedOut);
    assert.match(err.message, /did not finish within 300ms and was killed/);
    const { readFile } = await import("node:fs/promises");
    const sleeper = Number((await readFile(`${l}.sleeper`, "utf8")).trim());
    // The sleeping child was in the plugin's process group: it is dead too
    // (gone, or a zombie until whoever inherited it reaps it).
    const state = await readFile(`/proc/${sleeper}/stat`, "utf8").then(
      (s) => s.slice(s.lastIndexOf(")") + 2).split(" ")[0],
      () => "gone",
    );
    assert.ok(state === "gone" || state === "Z", `sleeper ${sleeper} is in state ${state}`);
  });

  test("a plugin that is not executable or prints garbage is a clear error", async () => {
    const noexec = join(bin, "noexec");
    await writeFile(noexec, "#!/bin/sh\nexit 0\n");
    await chmod(noexec, 0o644);
    await assert.rejects(
      addNetworkList({ name: "x", cniVersion: "1.0.0", plugins: [{ type: "noexec" }] }, rt, opts()),
      /CNI plugin "noexec" failed \(add\): cannot run .*EACCES/,
    );
    const garbage = join(bin, "garbage");
    await writeFile(garbage, "#!/bin/sh\necho not json\n");
    await chmod(garbage, 0o755);
    await assert.rejects(addNetworkList({ name: "x", cniVersion: "1.0.0", plugins: [{ type: "garbage" }] }, rt, opts()), /output is not JSON/);
  });
});
