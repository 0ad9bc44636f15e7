/**
 * Contracts: text property formats, defaults, validation and the batch `get`
 * with per-value errors.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";

contract("container properties", (t) => {
  it("starts with the defaults the shim relies on", async () => {
    const c = await t().connect();
    const name = t().name("defaults");
    await c.call({ create: { name } });
    const expect: Record<string, string> = {
      state: "stopped",
      command: "",
      command_argv: "",
      env: "",
      isolate: "true",
      weak: "false",
      private: "",
      aging_time: "86400",
      enable_porto: "true",
      user: "root",
      group: "root",
      stdin_path: "/dev/null",
      stdout_path: "stdout",
      stderr_path: "stderr",
      stdout_limit: "8388608",
      memory_limit: "0",
      cpu_limit: "0c",
      cpu_guarantee: "0c",
      respawn: "false",
      max_respawns: "",
      respawn_count: "0",
      labels: "",
      root: "/",
      root_readonly: "false",
      virt_mode: "app",
      net: "inherited",
      umask: "02",
      thread_limit: "10000",
      resolv_conf: "inherit",
      hostname: "",
      start_time: "",
      start_error: "",
      level: "1",
      parent: "/",
      absolute_name: `/porto/${name}`,
      absolute_namespace: "/porto/",
      owner_user: "root",
    };
    for (const [p, v] of Object.entries(expect)) assert.equal(await c.get(name, p), v, p);
    assert.match(await c.get(name, "cwd"), new RegExp(`/porto/${name}$`));
    assert.match(await c.get(name, "id"), /^\d+$/);
  });

  it("prints env as `K=V;K2=V2` with `\\;` escaping, trimming items; a bare name unsets", async () => {
    const c = await t().connect();
    const name = t().name("env");
    await c.call({ create: { name } });
    await c.set(name, "env", " A=1 ;  B=x\\;y ; C ");
    assert.equal(await c.get(name, "env"), "A=1;B=x\\;y;C");
    assert.equal(await c.get(name, "env[B]"), "x;y");
    assert.equal(await c.get(name, "env[PORTO_NAME]"), name);
    assert.equal(await c.get(name, "env[container]"), "lxc");
    assert.equal(await c.code({ getProperty: { name, property: "env[C]" } }), EError.InvalidValue);
    await c.set(name, "env[D]", "4");
    assert.equal(await c.get(name, "env"), "A=1;B=x\\;y;C;D=4");
  });

  it("prints labels sorted as `k: v; k2: v2`; setting the labels property merges", async () => {
    const c = await t().connect();
    const name = t().name("labels");
    await c.call({ create: { name } });
    await c.set(name, "labels", "TEST.b: 2; TEST.a: 1");
    assert.equal(await c.get(name, "labels"), "TEST.a: 1; TEST.b: 2");
    await c.set(name, "labels", "TEST.c: 3");
    assert.equal(await c.get(name, "labels"), "TEST.a: 1; TEST.b: 2; TEST.c: 3");
    assert.equal(await c.get(name, "labels[TEST.b]"), "2");
    assert.equal(await c.get(name, "TEST.c"), "3");
    assert.equal(await c.code({ setProperty: { name, property: "labels", value: "TEST.d" } }), EError.InvalidValue);
  });

  it("prints times as local `YYYY-MM-DD HH:MM:SS`; `[raw]` gives epoch seconds", async () => {
    const c = await t().connect();
    const name = t().name("times");
    await c.call({ create: { name } });
    assert.match(await c.get(name, "creation_time"), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const raw = Number(await c.get(name, "creation_time[raw]"));
    assert.ok(Math.abs(raw - Date.now() / 1000) < 60, `creation_time[raw] ${raw}`);
    assert.equal(await c.get(name, "start_time[raw]"), "0");
    assert.equal(await c.code({ getProperty: { name, property: "creation_time[bogus]" } }), EError.InvalidValue);
  });

  it("refuses unknown properties with InvalidProperty, read-only ones with InvalidValue", async () => {
    const c = await t().connect();
    const name = t().name("unknown");
    await c.call({ create: { name } });
    assert.equal(await c.code({ getProperty: { name, property: "no_such_property" } }), EError.InvalidProperty);
    assert.equal(await c.code({ setProperty: { name, property: "no_such_property", value: "1" } }), EError.InvalidProperty);
    assert.equal(await c.code({ setProperty: { name, property: "state", value: "running" } }), EError.InvalidValue);
    assert.equal(await c.code({ getProperty: { name, property: "env[]" } }), EError.InvalidProperty);
  });

  it("validates values: booleans are true/false only (Unknown otherwise), sizes take units, memory_limit ≥ 1M", async () => {
    const c = await t().connect();
    const name = t().name("values");
    await c.call({ create: { name } });
    assert.equal(await c.code({ setProperty: { name, property: "isolate", value: "yes" } }), EError.Unknown);
    await c.set(name, "isolate", "false");
    assert.equal(await c.get(name, "isolate"), "false");
    await c.set(name, "memory_limit", "1G");
    assert.equal(await c.get(name, "memory_limit"), "1073741824");
    assert.equal(await c.code({ setProperty: { name, property: "memory_limit", value: "4096" } }), EError.InvalidValue);
    assert.equal(await c.code({ setProperty: { name, property: "memory_limit", value: "lots" } }), EError.InvalidValue);
    await c.set(name, "cpu_limit", "1.5c");
    assert.equal(await c.get(name, "cpu_limit"), "1.5c");
    await c.set(name, "aging_time", "5");
    assert.equal(await c.get(name, "aging_time"), "5");
    assert.equal(await c.code({ setProperty: { name, property: "aging_time", value: "-1" } }), EError.InvalidValue);
    assert.equal(await c.code({ setProperty: { name, property: "enable_porto", value: "sometimes" } }), EError.InvalidValue);
    await c.set(name, "enable_porto", "false");
    assert.equal(await c.get(name, "enable_porto"), "false");
    await c.set(name, "umask", "022");
    assert.equal(await c.get(name, "umask"), "022");
  });

  it("prints ulimit items each followed by `; ` and bind with its flags column even when empty", async () => {
    const c = await t().connect();
    const name = t().name("lists");
    await c.call({ create: { name } });
    await c.set(name, "ulimit", "nproc: 100 200; core: unlimited");
    assert.equal(await c.get(name, "ulimit"), "nproc: 100 200; core: unlimited unlimited; ");
    assert.equal(await c.code({ setProperty: { name, property: "ulimit", value: "bogus: 1" } }), EError.InvalidValue);
    await c.set(name, "bind", "/tmp /mnt ro; /var/tmp /x");
    assert.equal(await c.get(name, "bind"), "/tmp /mnt ro;/var/tmp /x ");
    await c.set(name, "capabilities", "CHOWN;KILL");
    assert.equal(await c.get(name, "capabilities"), "CHOWN;KILL");
  });

  it("dumps typed spec details: capability hex mask, net inherited flag, inherited default ulimits, resolv_conf", async () => {
    const c = await t().connect();
    const name = t().name("dump");
    await c.call({ create: { name } });
    await c.set(name, "ulimit", "nproc: 100 200");
    await c.set(name, "capabilities", "CHOWN;KILL");
    await c.set(name, "net", "none");
    const rsp = await c.call({
      ListContainersBy: { filters: [{ name }], fieldOptions: { properties: ["ulimit", "capabilities", "net", "resolv_conf"] } },
    });
    const spec = rsp.ListContainersBy!.containers[0].spec!;
    assert.equal(spec.capabilities!.hex, "0000000000000021");
    assert.deepEqual(
      spec.net!.cfg.map((o) => o.opt),
      ["none"],
    );
    assert.equal(spec.net!.inherited, false);
    const [own, ...rest] = spec.ulimit!.ulimit;
    assert.deepEqual([own.type, own.soft, own.hard, own.inherited], ["nproc", 100n, 200n, false]);
    assert.ok(rest.every((u) => u.inherited), "portod's default_ulimit entries come marked inherited");
    assert.equal(spec.resolvConf, "inherit");
  });

  it("dumps a parent's ulimit in a child's spec as inherited", async () => {
    const c = await t().connect();
    const p = t().name("ulimitparent");
    await c.call({ create: { name: p } });
    await c.set(p, "ulimit", "stack: 1M 2M");
    await c.call({ create: { name: `${p}/kid` } });
    const rsp = await c.call({ ListContainersBy: { filters: [{ name: `${p}/kid` }], fieldOptions: { properties: ["ulimit"] } } });
    const stack = rsp.ListContainersBy!.containers[0].spec!.ulimit!.ulimit.find((u) => u.type === "stack");
    assert.deepEqual([stack?.soft, stack?.hard, stack?.inherited], [1n << 20n, 2n << 20n, true]);
    assert.equal(await c.get(`${p}/kid`, "ulimit"), "", "the text property shows only the container's own");
  });

  it("keeps private up to 4096 bytes", async () => {
    const c = await t().connect();
    const name = t().name("private");
    await c.call({ create: { name } });
    await c.set(name, "private", "p".repeat(4096));
    assert.equal((await c.get(name, "private")).length, 4096);
    assert.equal(await c.code({ setProperty: { name, property: "private", value: "p".repeat(4097) } }), EError.InvalidValue);
  });

  it("trims the value of setProperty", async () => {
    const c = await t().connect();
    const name = t().name("trim");
    await c.call({ create: { name } });
    await c.set(name, "command", "  sleep 5 \n");
    assert.equal(await c.get(name, "command"), "sleep 5");
  });

  it("keeps command_argv tab-separated and derives a quoted command from it", async () => {
    const c = await t().connect();
    const name = t().name("argv");
    await c.call({ create: { name } });
    await c.set(name, "command_argv", "echo\thello world\tit's");
    assert.equal(await c.get(name, "command_argv"), "echo\thello world\tit's");
    assert.equal(await c.get(name, "command_argv[1]"), "hello world");
    assert.equal(await c.get(name, "command"), "'echo' 'hello world' 'it'\\''s' ");
    await c.set(name, "command", "true");
    assert.equal(await c.get(name, "command_argv"), "");
  });

  it("reports memory_guarantee and anon_limit as NotSupported on a stock kernel", async () => {
    const c = await t().connect();
    const name = t().name("unsupported");
    await c.call({ create: { name } });
    assert.equal(await c.code({ getProperty: { name, property: "memory_guarantee" } }), EError.NotSupported);
    assert.equal(await c.code({ setProperty: { name, property: "anon_limit", value: "1G" } }), EError.NotSupported);
  });

  it("refuses non-dynamic properties of a running container with InvalidState, allows dynamic ones", async () => {
    const c = await t().connect();
    const name = t().name("dynamic");
    await c.call({ create: { name } });
    await c.set(name, "command", "sleep 1000");
    await c.call({ start: { name } });
    assert.equal(await c.code({ setProperty: { name, property: "isolate", value: "false" } }), EError.InvalidState);
    assert.equal(await c.code({ setProperty: { name, property: "env", value: "A=1" } }), EError.InvalidState);
    await c.set(name, "memory_limit", "256M");
    await c.set(name, "private", "still writable");
    await c.set(name, "labels", "TEST.running: yes");
  });

  it("answers a batch get of many names × many properties with per-value errors, not a failed request", async () => {
    const c = await t().connect();
    const a = t().name("batch-a");
    const missing = t().name("batch-missing");
    await c.call({ create: { name: a } });
    const rsp = await c.call({ get: { name: [a, missing], variable: ["state", "exit_code", "no_such_property", "command"] } });
    const list = rsp.get!.list;
    assert.deepEqual(
      list.map((e) => e.name),
      [a, missing],
    );
    const byVar = (i: number) => Object.fromEntries(list[i].keyval.map((kv) => [kv.variable, kv]));
    const first = byVar(0);
    assert.equal(first.state.error, EError.Success);
    assert.equal(first.state.value, "stopped");
    assert.equal(first.exit_code.error, EError.InvalidState);
    assert.equal(first.no_such_property.error, EError.InvalidProperty);
    assert.equal(first.command.value, "");
    for (const kv of list[1].keyval) assert.equal(kv.error, EError.ContainerDoesNotExist, kv.variable);
  });

  it("expands masks in a batch get and leaves out the root", async () => {
    const c = await t().connect();
    const p = t().name("getmask");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/x` } });
    const rsp = await c.call({ get: { name: [`${p}***`], variable: ["state"] } });
    assert.deepEqual(
      rsp.get!.list.map((e) => e.name),
      [p, `${p}/x`],
    );
  });

  it("sets a label through setProperty with its name, and reads it back by name", async () => {
    const c = await t().connect();
    const name = t().name("labelprop");
    await c.call({ create: { name } });
    await c.set(name, "TEST.direct", "v1");
    assert.equal(await c.get(name, "TEST.direct"), "v1");
    assert.equal(await c.code({ getProperty: { name, property: "TEST.absent" } }), EError.LabelNotFound);
    assert.equal(await c.code({ setProperty: { name, property: "lower.case", value: "v" } }), EError.InvalidProperty);
  });
});
