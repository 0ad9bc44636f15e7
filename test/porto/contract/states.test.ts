/**
 * Contracts: the container state machine, meta parents, exit codes and the
 * way `command` becomes a process (wordexp, no shell).
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import type { RawPorto } from "./raw-porto.js";

async function runToDeath(c: RawPorto, name: string, command: string): Promise<void> {
  await c.call({ create: { name } });
  await c.set(name, "command", command);
  await c.call({ start: { name } });
  assert.equal(await c.waitFor(name), "dead");
}

contract("container states", (t) => {
  it("goes stopped → running → dead → stopped → destroyed", async () => {
    const c = await t().connect();
    const name = t().name("life");
    await c.call({ create: { name } });
    assert.equal(await c.get(name, "state"), "stopped");
    await c.set(name, "command", "sleep 1000");
    await c.call({ start: { name } });
    assert.equal(await c.get(name, "state"), "running");
    assert.match(await c.get(name, "root_pid"), /^[1-9]\d*$/);
    await c.call({ kill: { name, sig: 9 } });
    assert.equal(await c.waitFor(name), "dead");
    await c.call({ stop: { name } });
    assert.equal(await c.get(name, "state"), "stopped");
    await c.call({ destroy: { name } });
    assert.equal(await c.code({ getProperty: { name, property: "state" } }), EError.ContainerDoesNotExist);
  });

  it("reports exit codes: 0-255 for exit, -signal for a kill, exit_status is the raw wait status", async () => {
    const c = await t().connect();
    const ok = t().name("exit0");
    await runToDeath(c, ok, "true");
    assert.equal(await c.get(ok, "exit_code"), "0");
    assert.equal(await c.get(ok, "exit_status"), "0");
    assert.equal(await c.get(ok, "oom_killed"), "false");

    const three = t().name("exit3");
    await runToDeath(c, three, "sh -c 'exit 3'");
    assert.equal(await c.get(three, "exit_code"), "3");
    assert.equal(await c.get(three, "exit_status"), String(3 << 8));

    const killed = t().name("killed");
    await c.call({ create: { name: killed } });
    await c.set(killed, "command", "sleep 1000");
    await c.call({ start: { name: killed } });
    await c.call({ kill: { name: killed, sig: 15 } });
    assert.equal(await c.waitFor(killed), "dead");
    assert.equal(await c.get(killed, "exit_code"), "-15");
    assert.equal(await c.get(killed, "exit_status"), "15");
  });

  it("reports an OOM kill as exit_code -99 with oom_killed true (exit_status is the SIGKILL)", async () => {
    const c = await t().connect();
    const name = t().name("oom");
    await c.call({ create: { name } });
    await c.set(name, "memory_limit", "32M");
    await c.set(name, "command", "tail /dev/zero");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name, 20_000), "dead");
    assert.equal(await c.get(name, "exit_code"), "-99");
    assert.equal(await c.get(name, "oom_killed"), "true");
    assert.equal(await c.get(name, "exit_status"), "9");
  });

  it("offers exit_code, exit_status, oom_killed and death_time only when dead (InvalidState otherwise)", async () => {
    const c = await t().connect();
    const name = t().name("deadonly");
    await c.call({ create: { name } });
    for (const p of ["exit_code", "exit_status", "oom_killed", "death_time"])
      assert.equal(await c.code({ getProperty: { name, property: p } }), EError.InvalidState, p);
    assert.equal(await c.code({ getProperty: { name, property: "root_pid" } }), EError.InvalidState);
    await c.set(name, "command", "sleep 1000");
    await c.call({ start: { name } });
    assert.equal(await c.code({ getProperty: { name, property: "exit_code" } }), EError.InvalidState);
  });

  it("stop sends SIGTERM then SIGKILL after timeout_ms and ends stopped (not dead)", async () => {
    const c = await t().connect();
    const name = t().name("stubborn");
    await c.call({ create: { name } });
    await c.set(name, "command", "sh -c 'trap \"\" TERM; sleep 1000'");
    await c.call({ start: { name } });
    // Let sh install its trap first: a SIGTERM before that kills it at once.
    await new Promise((r) => setTimeout(r, 300));
    const began = Date.now();
    await c.call({ stop: { name, timeoutMs: 300 } });
    const took = Date.now() - began;
    assert.ok(took >= 250, `stop returned after ${took} ms, before the timeout`);
    assert.equal(await c.get(name, "state"), "stopped");
  });

  it("refuses misuse with InvalidState: start twice, kill or pause a stopped container, resume a running one", async () => {
    const c = await t().connect();
    const name = t().name("misuse");
    await c.call({ create: { name } });
    assert.equal(await c.code({ kill: { name, sig: 9 } }), EError.InvalidState);
    assert.equal(await c.code({ pause: { name } }), EError.InvalidState);
    await c.set(name, "command", "sleep 1000");
    await c.call({ start: { name } });
    assert.equal(await c.code({ start: { name } }), EError.InvalidState);
    assert.equal(await c.code({ resume: { name } }), EError.InvalidState);
    assert.equal(await c.code({ setProperty: { name, property: "command", value: "true" } }), EError.InvalidState);
  });

  it("pauses and resumes a running container", async () => {
    const c = await t().connect();
    const name = t().name("pause");
    await c.call({ create: { name } });
    await c.set(name, "command", "sleep 1000");
    await c.call({ start: { name } });
    await c.call({ pause: { name } });
    assert.equal(await c.get(name, "state"), "paused");
    await c.call({ resume: { name } });
    assert.equal(await c.get(name, "state"), "running");
  });

  it("starts a container without a command as meta, and stopped parents of a started child as meta", async () => {
    const c = await t().connect();
    const p = t().name("meta");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/mid` } });
    await c.call({ create: { name: `${p}/mid/leaf` } });
    await c.set(`${p}/mid/leaf`, "command", "sleep 1000");
    await c.call({ start: { name: `${p}/mid/leaf` } });
    assert.equal(await c.get(p, "state"), "meta");
    assert.equal(await c.get(`${p}/mid`, "state"), "meta");
    assert.equal(await c.get(`${p}/mid/leaf`, "state"), "running");
    await c.call({ stop: { name: p } });
    for (const n of [p, `${p}/mid`, `${p}/mid/leaf`]) assert.equal(await c.get(n, "state"), "stopped", n);
  });

  it("keeps a meta parent meta when its child dies", async () => {
    const c = await t().connect();
    const p = t().name("hollow");
    await c.call({ create: { name: p } });
    await runToDeath(c, `${p}/job`, "true");
    assert.equal(await c.get(p, "state"), "meta");
  });

  it("reaps the subtree when a parent's own command exits: children become dead", async () => {
    const c = await t().connect();
    const p = t().name("reap");
    await c.call({ create: { name: p } });
    await c.set(p, "command", "sleep 1000");
    await c.call({ create: { name: `${p}/kid` } });
    await c.set(`${p}/kid`, "command", "sleep 1000");
    await c.call({ start: { name: `${p}/kid` } });
    assert.equal(await c.get(p, "state"), "running");
    await c.call({ kill: { name: p, sig: 9 } });
    assert.equal(await c.waitFor(p), "dead");
    assert.equal(await c.get(`${p}/kid`, "state"), "dead");
  });

  it("does not use a shell: shell syntax and undefined variables make start fail with InvalidCommand", async () => {
    const c = await t().connect();
    const name = t().name("noshell");
    await c.call({ create: { name } });
    for (const cmd of ["true ; false", "true | false", "false &", "(false)", "false > /dev/null", "false $NO_SUCH_VAR_X", "false $(bar)", "false `bar`", "true \n false"]) {
      await c.set(name, "command", cmd);
      assert.equal(await c.code({ start: { name } }), EError.InvalidCommand, cmd);
      assert.equal(await c.get(name, "state"), "stopped", cmd);
    }
  });

  it("fails to start a missing binary with InvalidCommand and records start_error", async () => {
    const c = await t().connect();
    const name = t().name("nobin");
    await c.call({ create: { name } });
    await c.set(name, "command", "/nonexistent/binary-for-contract");
    const rsp = await c.raw({ start: { name } });
    assert.equal(rsp.error, EError.InvalidCommand);
    assert.equal(await c.get(name, "state"), "stopped");
    assert.match(await c.get(name, "start_error"), /^InvalidCommand:\(/);
  });

  it("splits quotes and expands variables from the container env like wordexp", async () => {
    const c = await t().connect();
    const name = t().name("wordexp");
    await c.call({ create: { name } });
    await c.set(name, "env", "GREETING=hello world");
    await c.set(name, "command", `sh -c 'test "$1" = "hello world" && test "$2" = "a b" && test "$3" = "$0"' "$PORTO_NAME" "$GREETING" a\\ b ${name}`);
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    assert.equal(await c.get(name, "exit_code"), "0");
  });

  it("runs command_argv verbatim, without wordexp", async () => {
    const c = await t().connect();
    const name = t().name("argv");
    await c.call({ create: { name } });
    await c.set(name, "command_argv", "sh\t-c\ttest \"$0\" = '$HOME;|'\t$HOME;|");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    assert.equal(await c.get(name, "exit_code"), "0");
  });

  it("gives the process its env, cwd and stdout/stderr files", async () => {
    const c = await t().connect();
    const name = t().name("io");
    await c.call({ create: { name } });
    await c.set(name, "env", "A=1;B=two words");
    await c.set(name, "command", "sh -c 'echo \"$A|$B|$PORTO_NAME|$(pwd)\"; echo err >&2'");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    const cwd = await c.get(name, "cwd");
    assert.equal(await c.get(name, "stdout"), `1|two words|${name}|${cwd}\n`);
    assert.equal(await c.get(name, "stderr"), "err\n");
  });

  it("writes stdout to a client-chosen stdout_path", async () => {
    const c = await t().connect();
    const name = t().name("outpath");
    await c.call({ create: { name } });
    const path = `/tmp/${name}.out`;
    await c.set(name, "stdout_path", path);
    await c.set(name, "command", "echo to-file");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    const { readFileSync, rmSync } = await import("node:fs");
    assert.equal(readFileSync(path, "utf8"), "to-file\n");
    rmSync(path, { force: true });
  });

  it("destroys a dead container once its aging_time has passed", async () => {
    const c = await t().connect();
    const name = t().name("aging");
    await runToDeath(c, name, "true");
    // Setting it on the dead container counts from the death, as portod's periodic check does.
    await c.set(name, "aging_time", "1");
    let code = EError.Success;
    for (let i = 0; i < 100 && code === EError.Success; i++) {
      await new Promise((r) => setTimeout(r, 100));
      code = await c.code({ getProperty: { name, property: "state" } });
    }
    assert.equal(code, EError.ContainerDoesNotExist);
  });

  it("respawns a dead container up to max_respawns, counting in respawn_count", async () => {
    const c = await t().connect();
    const name = t().name("respawn");
    await c.call({ create: { name } });
    await c.set(name, "respawn", "true");
    await c.set(name, "max_respawns", "2");
    await c.set(name, "respawn_delay", "100000000");
    assert.equal(await c.get(name, "respawn_delay"), "100000000ns");
    await c.set(name, "command", "sh -c 'exit 4'");
    await c.call({ start: { name } });
    // A sync wait also answers for `respawning`, so poll until the respawns are used up.
    let seen = "";
    for (let i = 0; i < 100 && seen !== "2 dead"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = `${await c.get(name, "respawn_count")} ${await c.get(name, "state")}`;
    }
    assert.equal(seen, "2 dead");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await c.get(name, "state"), "dead", "no respawn beyond max_respawns");
    assert.equal(await c.get(name, "exit_code"), "4");
  });

  it("refuses writes to the root container `/` with Permission", async () => {
    const c = await t().connect();
    assert.equal(await c.code({ start: { name: "/" } }), EError.Permission);
    assert.equal(await c.code({ kill: { name: "/", sig: 9 } }), EError.Permission);
    assert.equal(await c.code({ destroy: { name: "/" } }), EError.Permission);
    assert.equal(await c.code({ setProperty: { name: "/", property: "private", value: "x" } }), EError.Permission);
  });

  it("fails to start with a missing cwd (InvalidPath) and records it in start_error", async () => {
    const c = await t().connect();
    const name = t().name("nocwd");
    await c.call({ create: { name } });
    await c.set(name, "cwd", `/nonexistent/${name}`);
    await c.set(name, "command", "true");
    assert.equal(await c.code({ start: { name } }), EError.InvalidPath);
    assert.match(await c.get(name, "start_error"), /^InvalidPath:/);
    assert.equal(await c.get(name, "state"), "stopped");
  });

  it("pauses the subtree with its parent; a child of a paused parent cannot be resumed alone", async () => {
    const c = await t().connect();
    const p = t().name("pausetree");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/kid` } });
    await c.set(`${p}/kid`, "command", "sleep 1000");
    await c.call({ start: { name: `${p}/kid` } });
    await c.call({ pause: { name: p } });
    assert.equal(await c.get(p, "state"), "paused");
    assert.equal(await c.get(`${p}/kid`, "state"), "paused");
    assert.equal(await c.code({ resume: { name: `${p}/kid` } }), EError.InvalidState);
    assert.equal(await c.code({ kill: { name: `${p}/kid`, sig: 9 } }), EError.InvalidState);
    await c.call({ resume: { name: p } });
    assert.equal(await c.get(p, "state"), "meta");
    assert.equal(await c.get(`${p}/kid`, "state"), "running");
  });

  it("removes portod's own stdout file at stop, so each run's stdout starts empty", async () => {
    const c = await t().connect();
    const name = t().name("freshout");
    await runToDeath(c, name, "echo first");
    assert.equal(await c.get(name, "stdout"), "first\n");
    await c.call({ stop: { name } });
    await c.set(name, "command", "echo second");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    assert.equal(await c.get(name, "stdout"), "second\n");
    assert.equal(await c.get(name, "stdout[:3]"), "nd\n");
  });

  it("destroys a running container (stopping it first)", async () => {
    const c = await t().connect();
    const name = t().name("destroyrun");
    await c.call({ create: { name } });
    await c.set(name, "command", "sleep 1000");
    await c.call({ start: { name } });
    await c.call({ destroy: { name } });
    assert.equal(await c.code({ getProperty: { name, property: "state" } }), EError.ContainerDoesNotExist);
  });
});
