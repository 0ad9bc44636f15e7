/**
 * Contracts: typed CreateFromSpec / UpdateFromSpec and ListContainersBy, the
 * one-round-trip calls the shim builds on.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";

contract("spec requests", (t) => {
  it("creates from a typed spec and reads it back through ListContainersBy", async () => {
    const c = await t().connect();
    const name = t().name("spec");
    await c.call({
      CreateFromSpec: {
        container: {
          name,
          commandArgv: { argv: ["sleep", "1000"] },
          env: { var: [{ name: "A", value: "1" }, { name: "B", value: "two words" }] },
          labels: { map: [{ key: "TEST.kind", val: "spec" }] },
          cwd: "/tmp",
          isolate: true,
          enablePorto: "false",
          memoryLimit: 64n << 20n,
          cpuLimit: 0.5,
          agingTime: 3600n,
          private: "shim-private",
        },
        start: true,
      },
    });
    const rsp = await c.call({ ListContainersBy: { filters: [{ name }] } });
    const [ct] = rsp.ListContainersBy!.containers;
    assert.equal(ct.spec!.name, name);
    assert.equal(ct.status!.state, "running");
    assert.deepEqual(ct.spec!.commandArgv!.argv, ["sleep", "1000"]);
    assert.equal(ct.spec!.command, "'sleep' '1000' ");
    const env = Object.fromEntries(ct.spec!.env!.var.map((v) => [v.name, v.value]));
    assert.equal(env.A, "1");
    assert.equal(env.B, "two words");
    assert.equal(env.PORTO_NAME, name);
    assert.deepEqual(
      ct.spec!.labels!.map.map((e) => [e.key, e.val]),
      [["TEST.kind", "spec"]],
    );
    assert.equal(ct.spec!.cwd, "/tmp");
    assert.equal(ct.spec!.enablePorto, "false");
    assert.equal(ct.spec!.memoryLimit, 64n << 20n);
    assert.equal(ct.spec!.cpuLimit, 0.5);
    assert.equal(ct.spec!.agingTime, 3600n);
    assert.equal(ct.spec!.private, "shim-private");
    assert.ok(ct.status!.rootPid > 0);
    assert.ok(ct.status!.creationTime > 0n);
    assert.ok(ct.status!.startTime > 0n);
    assert.equal(ct.status!.absoluteName, `/porto/${name}`);
    assert.equal(await c.get(name, "env"), "A=1;B=two words");
    assert.equal(await c.get(name, "cpu_limit"), "0.5c");
  });

  it("lists by name mask and label filter in one request; a filter that matched nothing yields an error entry", async () => {
    const c = await t().connect();
    const p = t().name("list");
    await c.call({ CreateFromSpec: { container: { name: p, labels: { map: [{ key: "TEST.role", val: "pod" }] } } } });
    await c.call({ CreateFromSpec: { container: { name: `${p}/a`, labels: { map: [{ key: "TEST.role", val: "ctr" }] } } } });
    await c.call({ CreateFromSpec: { container: { name: `${p}/b`, labels: { map: [{ key: "TEST.role", val: "ctr" }] } } } });
    const missing = t().name("nothing");
    const rsp = await c.call({
      ListContainersBy: {
        filters: [
          { name: `${p}/***`, labels: { map: [{ key: "TEST.role", val: "ctr" }] } },
          { name: `${missing}***` },
        ],
        fieldOptions: { properties: ["state", "labels", "exit_code"] },
      },
    });
    const cts = rsp.ListContainersBy!.containers;
    assert.deepEqual(
      cts.map((x) => x.spec!.name),
      [`${p}/a`, `${p}/b`, `${missing}***`],
    );
    assert.equal(cts[0].status!.state, "stopped");
    assert.equal(cts[0].status!.exitCode, 0, "exit_code is left out (default) for a stopped container");
    assert.equal(cts[2].error!.error, EError.ContainerDoesNotExist);
    assert.equal(cts[2].status, undefined);
  });

  it("reports dead containers' exit code and death time in status", async () => {
    const c = await t().connect();
    const name = t().name("dead");
    await c.call({ CreateFromSpec: { container: { name, command: "sh -c 'exit 5'" }, start: true } });
    assert.equal(await c.waitFor(name), "dead");
    const rsp = await c.call({ ListContainersBy: { filters: [{ name }] } });
    const st = rsp.ListContainersBy!.containers[0].status!;
    assert.equal(st.state, "dead");
    assert.equal(st.exitCode, 5);
    assert.equal(st.exitStatus, 5 << 8);
    assert.ok(st.deathTime >= st.startTime);
    assert.equal(st.oomKilled, false);
  });

  it("undoes CreateFromSpec when the spec is bad: the container does not remain", async () => {
    const c = await t().connect();
    const name = t().name("bad");
    const rsp = await c.raw({ CreateFromSpec: { container: { name, enablePorto: "sometimes" } } });
    assert.equal(rsp.error, EError.InvalidValue);
    assert.equal(await c.code({ getProperty: { name, property: "state" } }), EError.ContainerDoesNotExist);
  });

  it("undoes CreateFromSpec with start when the start fails", async () => {
    const c = await t().connect();
    const name = t().name("badstart");
    const rsp = await c.raw({ CreateFromSpec: { container: { name, command: "/nonexistent/contract-binary" }, start: true } });
    assert.equal(rsp.error, EError.InvalidCommand);
    assert.equal(await c.code({ getProperty: { name, property: "state" } }), EError.ContainerDoesNotExist);
  });

  it("refuses CreateFromSpec for an existing name or a missing parent", async () => {
    const c = await t().connect();
    const name = t().name("exists");
    await c.call({ create: { name } });
    assert.equal(await c.code({ CreateFromSpec: { container: { name } } }), EError.ContainerAlreadyExists);
    assert.equal(await c.code({ CreateFromSpec: { container: { name: `${t().name("noparent")}/x` } } }), EError.ContainerDoesNotExist);
  });

  it("replaces labels on UpdateFromSpec unless merge is set; env likewise", async () => {
    const c = await t().connect();
    const name = t().name("update");
    await c.call({
      CreateFromSpec: {
        container: { name, labels: { map: [{ key: "TEST.a", val: "1" }] }, env: { var: [{ name: "X", value: "1" }] } },
      },
    });
    await c.call({ UpdateFromSpec: { container: { name, labels: { map: [{ key: "TEST.b", val: "2" }], merge: true } } } });
    assert.equal(await c.get(name, "labels"), "TEST.a: 1; TEST.b: 2");
    await c.call({ UpdateFromSpec: { container: { name, labels: { map: [{ key: "TEST.c", val: "3" }] } } } });
    assert.equal(await c.get(name, "labels"), "TEST.c: 3");
    await c.call({ UpdateFromSpec: { container: { name, env: { var: [{ name: "Y", value: "2" }], merge: true } } } });
    assert.equal(await c.get(name, "env"), "X=1;Y=2");
    await c.call({ UpdateFromSpec: { container: { name, env: { var: [{ name: "Z", value: "3" }] } } } });
    assert.equal(await c.get(name, "env"), "Z=3");
  });

  it("starts on UpdateFromSpec with start", async () => {
    const c = await t().connect();
    const name = t().name("updstart");
    await c.call({ create: { name } });
    await c.call({ UpdateFromSpec: { container: { name, command: "sleep 1000" }, start: true } });
    assert.equal(await c.get(name, "state"), "running");
  });

  it("creates weak containers from a spec that vanish with the connection", async () => {
    const owner = await t().connect();
    const watcher = await t().connect();
    const name = t().name("specweak");
    await owner.call({ CreateFromSpec: { container: { name, weak: true } } });
    await owner.close();
    for (let i = 0; i < 50; i++) {
      if ((await watcher.code({ getProperty: { name, property: "state" } })) === EError.ContainerDoesNotExist) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await watcher.code({ getProperty: { name, property: "state" } }), EError.ContainerDoesNotExist);
  });
});
