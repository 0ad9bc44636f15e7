/**
 * Contracts: the wire protocol itself — reply fields, request validation,
 * one request at a time per connection — plus Version and GetSystem.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { EError, TContainerRequestSchema } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import { hasField } from "./raw-porto.js";

contract("protocol", (t) => {
  it("replies to Version with a 5.3 tag and a revision", async () => {
    const c = await t().connect();
    const rsp = await c.call({ version: {} });
    assert.match(rsp.version!.tag, /^5\.3\.\d+/);
    assert.ok(rsp.version!.revision.length > 0);
  });

  it("sets error, errorMsg (empty on success) and timestamp on every reply", async () => {
    const c = await t().connect();
    const ok = await c.raw({ version: {} });
    assert.equal(ok.error, EError.Success);
    assert.equal(hasField(ok, "error"), true);
    assert.equal(hasField(ok, "errorMsg"), true);
    assert.equal(ok.errorMsg, "");
    assert.ok(Math.abs(Number(ok.timestamp) - Date.now() / 1000) < 60);
    const bad = await c.raw({ getProperty: { name: t().name("ghost"), property: "state" } });
    assert.equal(bad.error, EError.ContainerDoesNotExist);
    assert.notEqual(bad.errorMsg, "");
    assert.equal(hasField(bad, "getProperty"), false);
  });

  it("refuses a request with no method as `invalid RPC method` (InvalidMethod)", async () => {
    const c = await t().connect();
    const rsp = await c.raw({});
    assert.equal(rsp.error, EError.InvalidMethod);
    assert.equal(rsp.errorMsg, "invalid RPC method");
  });

  it("runs only the first method of portod's dispatch order when a request carries two (no InvalidMethod)", async () => {
    const c = await t().connect();
    const name = t().name("twomethods");
    // create comes before version in the dispatch chain.
    const rsp = await c.raw({ version: {}, create: { name } });
    assert.equal(rsp.error, EError.Success);
    assert.equal(hasField(rsp, "version"), false);
    assert.equal(await c.get(name, "state"), "stopped");
  });

  it("ignores unknown fields inside the request message", async () => {
    const c = await t().connect();
    // `version` (field 14, length-delimited) holding an unknown field 99 = varint 1.
    c.sendFrame(new Uint8Array([0x72, 0x03, 0x98, 0x06, 0x01]));
    const rsp = await c.nextReply();
    assert.equal(rsp.error, EError.Success);
    assert.match(rsp.version!.tag, /^5\.3\./);
  });

  it("answers pipelined requests one at a time, in order", async () => {
    const c = await t().connect();
    const name = t().name("pipeline");
    const reqs = [
      { create: { name } },
      { setProperty: { name, property: "private", value: "first" } },
      { getProperty: { name, property: "private" } },
      { setProperty: { name, property: "private", value: "second" } },
      { getProperty: { name, property: "private" } },
    ];
    for (const r of reqs) c.sendFrame(toBinary(TContainerRequestSchema, create(TContainerRequestSchema, r)));
    const replies = [];
    for (let i = 0; i < reqs.length; i++) replies.push(await c.nextReply());
    assert.deepEqual(
      replies.map((r) => r.error),
      [0, 0, 0, 0, 0],
    );
    assert.equal(replies[2].getProperty!.value, "first");
    assert.equal(replies[4].getProperty!.value, "second");
  });

  it("serves other connections while one waits", async () => {
    const waiter = await t().connect();
    const other = await t().connect();
    const name = t().name("parallel");
    await other.call({ create: { name } });
    await other.set(name, "command", "sleep 1000");
    await other.call({ start: { name } });
    const pending = waiter.call({ wait: { name: [name], timeoutMs: 1000 } });
    const began = Date.now();
    await other.call({ version: {} });
    assert.ok(Date.now() - began < 500);
    assert.equal((await pending).wait!.state, "timeout");
  });

  it("describes the daemon in GetSystem", async () => {
    const c = await t().connect();
    const sys = (await c.call({ GetSystem: {} })).GetSystem!;
    assert.match(sys.portoVersion, /^5\.3\.\d+/);
    assert.ok(sys.kernelVersion.length > 0);
    assert.ok(sys.containerCount >= 0n);
  });

  it("lists container properties with read-only and dynamic flags", async () => {
    const c = await t().connect();
    const list = (await c.call({ propertyList: {} })).propertyList!.list;
    const byName = Object.fromEntries(list.map((p) => [p.name, p]));
    for (const p of ["command", "env", "labels", "state", "exit_code", "memory_limit", "weak", "private"]) assert.ok(byName[p], p);
    assert.equal(byName.state.readOnly, true);
    assert.equal(byName.command.readOnly, false);
    assert.equal(byName.command.dynamic, false);
    assert.equal(byName.memory_limit.dynamic, true);
    assert.equal(byName.memory_guarantee, undefined, "unsupported properties are not listed");
  });
});
