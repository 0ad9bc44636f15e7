/**
 * Contracts: sync `wait`, AsyncWait pushes (and where they land relative to
 * replies), StopAsyncWait, and weak containers vanishing with their
 * connection.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import { hasField, type RawPorto } from "./raw-porto.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startSleeper(c: RawPorto, name: string): Promise<void> {
  await c.call({ create: { name } });
  await c.set(name, "command", "sleep 1000");
  await c.call({ start: { name } });
}

contract("wait and AsyncWait", (t) => {
  it("answers a sync wait that timed out with state `timeout`, an empty name, and no errorMsg", async () => {
    const c = await t().connect();
    const name = t().name("busy");
    await startSleeper(c, name);
    const began = Date.now();
    const rsp = await c.call({ wait: { name: [name], timeoutMs: 200 } });
    assert.ok(Date.now() - began >= 150);
    assert.equal(rsp.error, EError.Success);
    assert.equal(rsp.wait!.name, "");
    assert.equal(rsp.wait!.state, "timeout");
    assert.ok(rsp.wait!.when > 0n);
    assert.equal(hasField(rsp, "errorMsg"), false);
  });

  it("answers timeout_ms=0 at once with `timeout` when nothing is waitable", async () => {
    const c = await t().connect();
    const name = t().name("busy0");
    await startSleeper(c, name);
    const rsp = await c.call({ wait: { name: [name], timeoutMs: 0 } });
    assert.equal(rsp.wait!.state, "timeout");
    assert.equal(rsp.wait!.name, "");
  });

  it("returns at once for a container already stopped or dead, naming it as asked", async () => {
    const c = await t().connect();
    const name = t().name("idle");
    await c.call({ create: { name } });
    const rsp = await c.call({ wait: { name: [name], timeoutMs: 5000 } });
    assert.equal(rsp.wait!.name, name);
    assert.equal(rsp.wait!.state, "stopped");
  });

  it("returns when a running container dies", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const name = t().name("dies");
    await startSleeper(c, name);
    const pending = c.call({ wait: { name: [name], timeoutMs: 5000 } });
    await sleep(100);
    await other.call({ kill: { name, sig: 9 } });
    const rsp = await pending;
    assert.equal(rsp.wait!.name, name);
    assert.equal(rsp.wait!.state, "dead");
  });

  it("matches wildcards in sync waits (FNM_PATHNAME) and reports the container's own name", async () => {
    const c = await t().connect();
    const p = t().name("wild");
    await c.call({ create: { name: p } });
    await startSleeper(c, `${p}/a`);
    await c.call({ create: { name: `${p}/b` } });
    const rsp = await c.call({ wait: { name: [`${p}/*`], timeoutMs: 5000 } });
    assert.equal(rsp.wait!.name, `${p}/b`);
    assert.equal(rsp.wait!.state, "stopped");
  });

  it("refuses a sync wait for a missing container (ContainerDoesNotExist, name echoed) or for no names (InvalidValue)", async () => {
    const c = await t().connect();
    const ghost = t().name("ghost");
    const rsp = await c.raw({ wait: { name: [ghost], timeoutMs: 100 } });
    assert.equal(rsp.error, EError.ContainerDoesNotExist);
    assert.equal(rsp.wait?.name, ghost);
    assert.equal(await c.code({ wait: { name: [], timeoutMs: 100 } }), EError.InvalidValue);
  });

  it("pushes the current state of each named container when AsyncWait registers, before its reply", async () => {
    const c = await t().connect();
    const name = t().name("initial");
    await c.call({ create: { name } });
    const before = c.log.length;
    await c.call({ AsyncWait: { name: [name] } });
    const tail = c.log.slice(before);
    assert.deepEqual(
      tail.map((m) => m.kind),
      ["push", "reply"],
    );
    const push = tail[0].response;
    assert.equal(push.AsyncWait!.name, name);
    assert.equal(push.AsyncWait!.state, "stopped");
    assert.equal(push.error, EError.Success);
    assert.equal(hasField(push, "errorMsg"), false);
    assert.equal(hasField(push, "timestamp"), false);
  });

  it("pushes one message per matching existing container (wildcards) or label (label patterns) on registration", async () => {
    const c = await t().connect();
    const p = t().name("reg");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/a` } });
    await c.call({ create: { name: `${p}/b` } });
    await c.call({ SetLabel: { name: `${p}/a`, label: "TEST.x", value: "1" } });
    await c.call({ SetLabel: { name: `${p}/a`, label: "TEST.y", value: "2" } });
    await c.call({ SetLabel: { name: `${p}/a`, label: "OTHER.z", value: "3" } });
    let before = c.log.length;
    await c.call({ AsyncWait: { name: [`${p}/*`] } });
    assert.deepEqual(
      c.log.slice(before).map((m) => (m.kind === "push" ? `${m.response.AsyncWait!.name}:${m.response.AsyncWait!.state}` : "reply")),
      [`${p}/a:stopped`, `${p}/b:stopped`, "reply"],
    );
    before = c.log.length;
    await c.call({ AsyncWait: { name: [`${p}/a`], label: ["TEST.*"] } });
    assert.deepEqual(
      c.log.slice(before).map((m) => (m.kind === "push" ? `${m.response.AsyncWait!.label}=${m.response.AsyncWait!.value}` : "reply")),
      ["TEST.x=1", "TEST.y=2", "reply"],
    );
  });

  it("answers a sync wait on several names with the first already waitable", async () => {
    const c = await t().connect();
    const busy = t().name("multi-busy");
    const idle = t().name("multi-idle");
    await startSleeper(c, busy);
    await c.call({ create: { name: idle } });
    const rsp = await c.call({ wait: { name: [busy, idle], timeoutMs: 2000 } });
    assert.deepEqual([rsp.wait!.name, rsp.wait!.state], [idle, "stopped"]);
  });

  it("pushes state changes between a request and its reply on the same connection", async () => {
    const c = await t().connect();
    const name = t().name("between");
    await c.call({ create: { name } });
    await c.set(name, "command", "sleep 1000");
    await c.call({ AsyncWait: { name: [name] } });
    c.pushes.length = 0;
    const before = c.log.length;
    await c.call({ start: { name } });
    const kinds = c.log.slice(before).map((m) => m.kind);
    assert.equal(kinds[kinds.length - 1], "reply");
    assert.ok(kinds.filter((k) => k === "push").length >= 1, `got ${kinds.join(",")}`);
    assert.deepEqual(
      c.pushes.map((p) => p.state),
      ["starting", "running"],
    );
  });

  it("labels a death push with exit_code and its value", async () => {
    const c = await t().connect();
    const name = t().name("deathpush");
    await c.call({ create: { name } });
    await c.set(name, "command", "sh -c 'exit 7'");
    await c.call({ AsyncWait: { name: [name] } });
    await c.call({ start: { name } });
    const dead = await c.pushWhere((p) => p.state === "dead");
    assert.equal(dead.name, name);
    assert.equal(dead.label, "exit_code");
    assert.equal(dead.value, "7");
  });

  it("with target_state pushes only that state, once", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const name = t().name("target");
    await c.call({ create: { name } });
    await c.set(name, "command", "sleep 1000");
    await c.call({ AsyncWait: { name: [name], targetState: "dead" } });
    assert.equal(c.pushes.length, 0);
    await other.call({ start: { name } });
    await other.call({ kill: { name, sig: 9 } });
    const p = await c.nextPush();
    assert.equal(p.state, "dead");
    await other.call({ stop: { name } });
    await other.call({ start: { name } });
    await other.call({ kill: { name, sig: 9 } });
    await other.waitFor(name);
    await sleep(100);
    assert.equal(c.pushes.length, 0, "a target_state waiter fires once");
  });

  it("covers containers by wildcard, including ones created after registering", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const p = t().name("awild");
    await c.call({ create: { name: p } });
    await c.call({ AsyncWait: { name: [`${p}/***`] } });
    assert.equal(c.pushes.length, 0);
    await other.call({ create: { name: `${p}/late` } });
    const created = await c.nextPush();
    assert.deepEqual([created.name, created.state], [`${p}/late`, "stopped"]);
    await other.call({ destroy: { name: `${p}/late` } });
    const gone = await c.nextPush();
    assert.deepEqual([gone.name, gone.state], [`${p}/late`, "destroyed"]);
  });

  it("pushes label changes to a waiter with matching label patterns", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const name = t().name("labelpush");
    await c.call({ create: { name } });
    await c.call({ AsyncWait: { name: [name], label: ["TEST.*"] } });
    assert.equal(c.pushes.length, 0, "no labels yet, nothing to report");
    await other.call({ SetLabel: { name, label: "TEST.phase", value: "ready" } });
    const p = await c.nextPush();
    assert.deepEqual([p.name, p.state, p.label, p.value], [name, "stopped", "TEST.phase", "ready"]);
    await other.call({ SetLabel: { name, label: "OTHER.x", value: "1" } });
    await sleep(100);
    assert.equal(c.pushes.length, 0, "labels outside the pattern are not pushed");
  });

  it("does not return a sync wait with a label pattern on a label change of a running container", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const name = t().name("synclabel");
    await startSleeper(other, name);
    const pending = c.call({ wait: { name: [name], label: ["TEST.*"], timeoutMs: 400 } });
    await sleep(100);
    await other.call({ SetLabel: { name, label: "TEST.x", value: "1" } });
    const rsp = await pending;
    assert.equal(rsp.wait!.state, "timeout");
  });

  it("replaces the AsyncWait registration with a new one, and StopAsyncWait ends it", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const a = t().name("repl-a");
    const b = t().name("repl-b");
    await c.call({ create: { name: a } });
    await c.call({ create: { name: b } });
    await c.call({ AsyncWait: { name: [a] } });
    await c.call({ AsyncWait: { name: [b] } });
    c.pushes.length = 0;
    await other.call({ SetLabel: { name: a, label: "TEST.x", value: "1" } });
    await other.call({ destroy: { name: a } });
    await other.call({ destroy: { name: b } });
    const p = await c.nextPush();
    assert.equal(p.name, b, "the first registration was replaced");
    // Without target_state the registration outlives the container it named.
    await c.call({ StopAsyncWait: { name: [b] } });
    assert.equal(await c.code({ StopAsyncWait: { name: [b] } }), EError.InvalidValue);
  });

  it("StopAsyncWait removes an equal registration; a different one is `Waiter not found` (InvalidValue)", async () => {
    const c = await t().connect();
    const other = await t().connect();
    const name = t().name("stop");
    await c.call({ create: { name } });
    await c.call({ AsyncWait: { name: [name] } });
    assert.equal(await c.code({ StopAsyncWait: { name: [name], targetState: "dead" } }), EError.InvalidValue);
    await c.call({ StopAsyncWait: { name: [name] } });
    c.pushes.length = 0;
    await other.call({ destroy: { name } });
    await sleep(100);
    assert.equal(c.pushes.length, 0);
  });

  it("pushes `timeout` with an empty name when an AsyncWait with timeout_ms sees nothing", async () => {
    const c = await t().connect();
    const name = t().name("atimeout");
    await c.call({ create: { name } });
    await c.call({ AsyncWait: { name: [name], targetState: "dead", timeoutMs: 150 } });
    const p = await c.nextPush(3000);
    assert.deepEqual([p.name, p.state], ["", "timeout"]);
  });

  it("destroys weak containers when the connection that created them closes", async () => {
    const owner = await t().connect();
    const watcher = await t().connect();
    const weak = t().name("weak");
    const kept = t().name("weak-kept");
    await owner.call({ createWeak: { name: weak } });
    await owner.call({ createWeak: { name: kept } });
    await owner.set(kept, "weak", "false");
    assert.equal(await watcher.get(weak, "weak"), "true");
    await owner.close();
    for (let i = 0; i < 50; i++) {
      if ((await watcher.code({ getProperty: { name: weak, property: "state" } })) === EError.ContainerDoesNotExist) break;
      await sleep(20);
    }
    assert.equal(await watcher.code({ getProperty: { name: weak, property: "state" } }), EError.ContainerDoesNotExist);
    assert.equal(await watcher.get(kept, "state"), "stopped");
  });

  it("does not tie a container made weak later by setProperty to the connection", async () => {
    const owner = await t().connect();
    const watcher = await t().connect();
    const name = t().name("weak-later");
    await owner.call({ create: { name } });
    await owner.set(name, "weak", "true");
    await owner.close();
    await sleep(200);
    assert.equal(await watcher.get(name, "state"), "stopped");
  });
});
