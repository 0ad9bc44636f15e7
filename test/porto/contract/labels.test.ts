/**
 * Contracts: label names and values, limits, SetLabel compare-and-set,
 * IncLabel and FindLabel.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";

contract("labels", (t) => {
  it("accepts `PREFIX.rest` with a 2-16 capital prefix and name characters", async () => {
    const c = await t().connect();
    const name = t().name("ok");
    await c.call({ create: { name } });
    for (const label of ["AB.x", "ABCDEFGHIJKLMNOP.x", "TEST.a-b_c@d:e.f", "TEST.UPPER.lower"]) {
      await c.call({ SetLabel: { name, label, value: "v-1_2@3:4.5" } });
      assert.equal(await c.get(name, `labels[${label}]`), "v-1_2@3:4.5", label);
    }
  });

  it("refuses bad label names and values with InvalidLabel", async () => {
    const c = await t().connect();
    const name = t().name("bad");
    await c.call({ create: { name } });
    for (const label of ["A.x", "ABCDEFGHIJKLMNOPQ.x", "Test.x", "PORTO.x", "PORTOSHIM.x", "TEST", "TEST.sp ace", "TEST./"]) {
      assert.equal(await c.code({ SetLabel: { name, label, value: "v" } }), EError.InvalidLabel, label);
    }
    assert.equal(await c.code({ SetLabel: { name, label: "TEST.v", value: "has space" } }), EError.InvalidLabel);
    assert.equal(await c.code({ SetLabel: { name, label: "TEST.v", value: "semi;colon" } }), EError.InvalidLabel);
    assert.equal(await c.code({ SetLabel: { name, label: `TEST.${"n".repeat(124)}`, value: "v" } }), EError.InvalidLabel);
    await c.call({ SetLabel: { name, label: `TEST.${"n".repeat(123)}`, value: "v" } });
  });

  it("limits values to 65536 bytes", async () => {
    const c = await t().connect();
    const name = t().name("big");
    await c.call({ create: { name } });
    await c.call({ SetLabel: { name, label: "TEST.big", value: "v".repeat(65536) } });
    assert.equal(await c.code({ SetLabel: { name, label: "TEST.big", value: "v".repeat(65537) } }), EError.InvalidLabel);
  });

  it("allows at most 100 labels per container (ResourceNotAvailable beyond)", async () => {
    const c = await t().connect();
    const name = t().name("many");
    await c.call({ create: { name } });
    const batch = Array.from({ length: 100 }, (_, i) => `TEST.l${i}: ${i}`).join("; ");
    await c.set(name, "labels", batch);
    assert.equal(await c.code({ SetLabel: { name, label: "TEST.extra", value: "x" } }), EError.ResourceNotAvailable);
    assert.equal(await c.code({ setProperty: { name, property: "labels", value: "TEST.extra: x" } }), EError.ResourceNotAvailable);
    // An empty value deletes, which makes room.
    await c.call({ SetLabel: { name, label: "TEST.l0", value: "" } });
    await c.call({ SetLabel: { name, label: "TEST.extra", value: "x" } });
  });

  it("SetLabel compares and sets: prev_value must match (Busy), absent needs prev_value \"\" (LabelNotFound otherwise)", async () => {
    const c = await t().connect();
    const name = t().name("cas");
    await c.call({ create: { name } });
    const first = await c.call({ SetLabel: { name, label: "TEST.owner", value: "a", prevValue: "" } });
    assert.equal(first.SetLabel!.state, "stopped");
    const busy = await c.raw({ SetLabel: { name, label: "TEST.owner", value: "b", prevValue: "x" } });
    assert.equal(busy.error, EError.Busy);
    assert.equal(busy.SetLabel?.prevValue, "a");
    const ok = await c.call({ SetLabel: { name, label: "TEST.owner", value: "b", prevValue: "a" } });
    assert.equal(ok.SetLabel!.prevValue, "a");
    assert.equal(await c.get(name, "TEST.owner"), "b");
    assert.equal(await c.code({ SetLabel: { name, label: "TEST.absent", value: "v", prevValue: "something" } }), EError.LabelNotFound);
  });

  it("SetLabel with `state` refuses a container in another state (InvalidState)", async () => {
    const c = await t().connect();
    const name = t().name("casstate");
    await c.call({ create: { name } });
    assert.equal(await c.code({ SetLabel: { name, label: "TEST.x", value: "1", state: "running" } }), EError.InvalidState);
    await c.call({ SetLabel: { name, label: "TEST.x", value: "1", state: "stopped" } });
  });

  it("sets labels on dead containers too", async () => {
    const c = await t().connect();
    const name = t().name("deadlabels");
    await c.call({ create: { name } });
    await c.set(name, "command", "true");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    await c.call({ SetLabel: { name, label: "TEST.after", value: "death" } });
    await c.set(name, "labels", "TEST.more: yes");
    assert.equal(await c.get(name, "labels"), "TEST.after: death; TEST.more: yes");
  });

  it("IncLabel adds (default 1), starts absent labels at 0, and refuses non-numbers", async () => {
    const c = await t().connect();
    const name = t().name("inc");
    await c.call({ create: { name } });
    assert.equal((await c.call({ IncLabel: { name, label: "TEST.n" } })).IncLabel!.result, 1n);
    assert.equal((await c.call({ IncLabel: { name, label: "TEST.n", add: 5n } })).IncLabel!.result, 6n);
    assert.equal((await c.call({ IncLabel: { name, label: "TEST.n", add: -10n } })).IncLabel!.result, -4n);
    assert.equal(await c.get(name, "TEST.n"), "-4");
    assert.equal(await c.code({ IncLabel: { name, label: "TEST.absent", add: 0n } }), EError.LabelNotFound);
    await c.call({ SetLabel: { name, label: "TEST.word", value: "abc" } });
    assert.equal(await c.code({ IncLabel: { name, label: "TEST.word" } }), EError.InvalidValue);
  });

  it("FindLabel finds containers by label (exact or wildcard), value, mask and state", async () => {
    const c = await t().connect();
    const a = t().name("find-a");
    const b = t().name("find-b");
    await c.call({ create: { name: a } });
    await c.call({ create: { name: b } });
    const marker = `${t().prefix.toUpperCase().replace(/[^A-Z]/g, "")}X`.slice(0, 16);
    const label = `${marker.length >= 2 ? marker : "CTX"}.role`;
    await c.call({ SetLabel: { name: a, label, value: "pod" } });
    await c.call({ SetLabel: { name: b, label, value: "ctr" } });
    const all = await c.call({ FindLabel: { label, mask: `${t().prefix}***` } });
    assert.deepEqual(
      all.FindLabel!.list.map((e) => [e.name, e.value, e.state]),
      [
        [a, "pod", "stopped"],
        [b, "ctr", "stopped"],
      ],
    );
    const pods = await c.call({ FindLabel: { label, value: "pod", mask: `${t().prefix}***` } });
    assert.deepEqual(
      pods.FindLabel!.list.map((e) => e.name),
      [a],
    );
    const wild = await c.call({ FindLabel: { label: `${label.split(".")[0]}.*`, mask: `${t().prefix}***` } });
    assert.equal(wild.FindLabel!.list.length, 2);
    const running = await c.call({ FindLabel: { label, state: "running", mask: `${t().prefix}***` } });
    assert.equal(running.FindLabel!.list.length, 0);
  });

  it("reads `.LABEL` through the parents", async () => {
    const c = await t().connect();
    const p = t().name("inherit");
    await c.call({ create: { name: p } });
    await c.call({ create: { name: `${p}/kid` } });
    await c.call({ SetLabel: { name: p, label: "TEST.pod", value: "mypod" } });
    assert.equal(await c.get(`${p}/kid`, "labels[.TEST.pod]"), "mypod");
    assert.equal(await c.code({ getProperty: { name: `${p}/kid`, property: "labels[TEST.pod]" } }), EError.LabelNotFound);
  });
});
