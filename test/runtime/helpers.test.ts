/** KeyedLock, label selectors, signals and record encoding. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PodSandboxConfigSchema, Signal } from "../../gen/runtime/v1/api_pb.js";
import { KeyedLock } from "../../src/runtime/keyed-lock.js";
import { matchesLabels } from "../../src/runtime/filters.js";
import { criSignal } from "../../src/runtime/views.js";
import { encodePodConfig, nowNs, podConfigOf } from "../../src/runtime/records.js";
import { INSTANCE_LABEL, KEEP_DEAD_SECONDS, instanceTag, ownedSpec } from "../../src/runtime/owned-spec.js";
import { MANAGED_LABEL } from "../../src/mapping/porto-names.js";

test("KeyedLock runs sections of one key one at a time, other keys in parallel, and survives failures", async () => {
  const lock = new KeyedLock();
  const log: string[] = [];
  const section = (key: string, name: string, ms: number, fail = false) =>
    lock.run(key, async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
      if (fail) throw new Error(name);
    });
  await Promise.allSettled([section("a", "a1", 30, true), section("a", "a2", 1), section("b", "b1", 5)]);
  assert.deepEqual(log, ["a1+", "b1+", "b1-", "a1-", "a2+", "a2-"]);
  assert.equal((lock as unknown as { tails: Map<string, unknown> }).tails.size, 0, "idle keys are forgotten");
});

test("label selectors need every pair", () => {
  assert.equal(matchesLabels({ a: "1", b: "2" }, {}), true);
  assert.equal(matchesLabels({ a: "1", b: "2" }, { a: "1" }), true);
  assert.equal(matchesLabels({ a: "1" }, { a: "1", b: "2" }), false);
  assert.equal(matchesLabels({ a: "1" }, { a: "2" }), false);
  assert.equal(matchesLabels({}, { constructor: "x" }), false);
});

test("stop signals are reported as CRI's enum", () => {
  assert.equal(criSignal(15), Signal.SIGTERM);
  assert.equal(criSignal(3), Signal.SIGQUIT);
  assert.equal(criSignal(9), Signal.SIGKILL);
  assert.equal(criSignal(99), Signal.RUNTIME_DEFAULT);
});

test("records keep the config byte-exact and refuse a newer layout", () => {
  const config = create(PodSandboxConfigSchema, { metadata: { name: "ü\u0000", uid: "u" }, annotations: { k: "v\n" } });
  const encoded = encodePodConfig(config);
  assert.deepEqual(podConfigOf({ v: 1, id: "p", config: encoded, runtimeHandler: "", createdAtNs: "1", state: "ready" }), config);
  assert.throws(() => podConfigOf({ v: 99, id: "p", config: encoded, runtimeHandler: "", createdAtNs: "1", state: "ready" }), /newer/);
});

test("nowNs strictly increases", () => {
  let last = nowNs();
  for (let i = 0; i < 10_000; i++) {
    const n = nowNs();
    assert.ok(n > last);
    last = n;
  }
});

test("every shim container is labelled as the shim's and kept when dead", () => {
  const tag = instanceTag("/var/lib/portoshim");
  assert.match(tag, /^[0-9a-f]{16}$/);
  assert.equal(instanceTag("/var/lib/portoshim/"), tag, "the same directory however spelled");
  assert.notEqual(instanceTag("/tmp/other"), tag);
  const spec = ownedSpec({ name: "k8s-x", labels: { map: [{ key: "A.b", val: "c" }, { key: MANAGED_LABEL, val: "other" }] } }, tag);
  assert.deepEqual(spec.labels?.map.map((e) => [e.key, e.val]), [["A.b", "c"], [MANAGED_LABEL, "portoshim"], [INSTANCE_LABEL, tag]]);
  assert.equal(spec.agingTime, KEEP_DEAD_SECONDS);
  assert.equal(spec.weak, false);
});
