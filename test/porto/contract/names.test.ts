/**
 * Contracts: container name rules and limits, hierarchy, and the error codes
 * portod gives for naming misuse.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import { hasField } from "./raw-porto.js";

contract("container names", (t) => {
  it("accepts the documented charset and hierarchical names under an existing parent", async () => {
    const c = await t().connect();
    const top = t().name("n@:._-AZ09");
    await c.call({ create: { name: top } });
    await c.call({ create: { name: `${top}/child` } });
    const list = await c.call({ list: { mask: `${top}***` } });
    assert.deepEqual(list.list!.name, [top, `${top}/child`]);
  });

  it("refuses forbidden characters with InvalidValue", async () => {
    const c = await t().connect();
    for (const bad of ["sp ace", "pl+us", "ha#sh", "star*", "uni\u00e9"]) {
      assert.equal(await c.code({ create: { name: t().name(bad) } }), EError.InvalidValue, bad);
    }
  });

  it("needs the parent to exist: ContainerDoesNotExist", async () => {
    const c = await t().connect();
    assert.equal(await c.code({ create: { name: `${t().name("orphan")}/child` } }), EError.ContainerDoesNotExist);
  });

  it("refuses a second container of the same name: ContainerAlreadyExists", async () => {
    const c = await t().connect();
    const name = t().name("dup");
    await c.call({ create: { name } });
    assert.equal(await c.code({ create: { name } }), EError.ContainerAlreadyExists);
  });

  it("limits one component to 128 bytes", async () => {
    const c = await t().connect();
    const parent = t().name("long");
    await c.call({ create: { name: parent } });
    await c.call({ create: { name: `${parent}/${"a".repeat(128)}` } });
    assert.equal(await c.code({ create: { name: `${parent}/${"b".repeat(129)}` } }), EError.InvalidValue);
  });

  it("allows a 200-byte path and refuses one over 220 (root client limit)", async () => {
    const c = await t().connect();
    const parent = t().name("path");
    await c.call({ create: { name: parent } });
    const mid = `${parent}/${"m".repeat(100)}`;
    await c.call({ create: { name: mid } });
    const at200 = `${mid}/${"x".repeat(200 - mid.length - 1)}`;
    assert.equal(at200.length, 200);
    await c.call({ create: { name: at200 } });
    const over = `${mid}/${"y".repeat(221 - mid.length - 1)}`;
    assert.equal(await c.code({ create: { name: over } }), EError.InvalidValue);
  });

  it("reserves `self` and `.` as components and refuses leading, doubled or trailing slashes as written", async () => {
    const c = await t().connect();
    const parent = t().name("res");
    await c.call({ create: { name: parent } });
    assert.equal(await c.code({ create: { name: `${parent}/self` } }), EError.InvalidValue);
    assert.equal(await c.code({ create: { name: `/${parent}x` } }), EError.InvalidValue);
    assert.equal(await c.code({ create: { name: "" } }), EError.InvalidValue);
  });

  it("normalises `a//b` and `a/./b` to `a/b` before checking (TPath::NormalPath)", async () => {
    const c = await t().connect();
    const parent = t().name("norm");
    await c.call({ create: { name: parent } });
    await c.call({ create: { name: `${parent}//x` } });
    assert.equal(await c.get(`${parent}/x`, "state"), "stopped");
    assert.equal(await c.code({ create: { name: `${parent}/./x` } }), EError.ContainerAlreadyExists);
  });

  it("names the root `/`, which is meta, not listed, and not writable", async () => {
    const c = await t().connect();
    assert.equal(await c.get("/", "state"), "meta");
    const list = await c.call({ list: {} });
    assert.ok(!(list.list?.name ?? []).includes("/"));
    assert.equal(await c.code({ create: { name: "/" } }), EError.ContainerAlreadyExists);
  });

  it("reports a missing container as ContainerDoesNotExist for reads and writes", async () => {
    const c = await t().connect();
    const ghost = t().name("ghost");
    assert.equal(await c.code({ getProperty: { name: ghost, property: "state" } }), EError.ContainerDoesNotExist);
    assert.equal(await c.code({ setProperty: { name: ghost, property: "command", value: "true" } }), EError.ContainerDoesNotExist);
    assert.equal(await c.code({ start: { name: ghost } }), EError.ContainerDoesNotExist);
    assert.equal(await c.code({ destroy: { name: ghost } }), EError.ContainerDoesNotExist);
  });

  it("lists with masks: `***` suffix is a prefix match, `*` and `?` are fnmatch with FNM_PATHNAME (stop at `/`)", async () => {
    const c = await t().connect();
    const p = t().name("mask");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/a` } });
    await c.call({ create: { name: `${p}/a/b` } });
    const prefixMatch = await c.call({ list: { mask: `${p}/***` } });
    assert.deepEqual(prefixMatch.list!.name, [`${p}/a`, `${p}/a/b`]);
    const star = await c.call({ list: { mask: `${p}/*` } });
    assert.deepEqual(star.list!.name, [`${p}/a`]);
    const deeper = await c.call({ list: { mask: `${p}/*/*` } });
    assert.deepEqual(deeper.list!.name, [`${p}/a/b`]);
    const q = await c.call({ list: { mask: `${p}/?` } });
    assert.deepEqual(q.list!.name, [`${p}/a`]);
  });

  it("leaves the `list` field out when nothing matches (portod creates it with the first name)", async () => {
    const c = await t().connect();
    const rsp = await c.call({ list: { mask: `${t().name("nothing-here")}***` } });
    assert.equal(hasField(rsp, "list"), false);
  });

  it("destroys the subtree with its parent", async () => {
    const c = await t().connect();
    const p = t().name("tree");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/a` } });
    await c.call({ destroy: { name: p } });
    assert.equal(await c.code({ getProperty: { name: `${p}/a`, property: "state" } }), EError.ContainerDoesNotExist);
  });
});
