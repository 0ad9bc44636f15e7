import { test } from "node:test";
import assert from "node:assert/strict";
import { CpuRateTracker } from "../../src/runtime/cpu-rate.js";

const S = 1_000_000_000n;
const at = (seconds: number, usageSeconds: number) => ({ atNs: BigInt(seconds * 1000) * 1_000_000n, usageNs: BigInt(Math.round(usageSeconds * 1e9)) });

test("the first sample has no rate; later ones a rate over the window since an earlier sample", () => {
  const t = new CpuRateTracker();
  assert.equal(t.observe("a", at(0, 0)), undefined);
  assert.equal(t.observe("a", at(10, 5)), S / 2n, "5 s of CPU in 10 s: half a core");
  assert.equal(t.observe("a", at(20, 25)), 2n * S, "over the last 10 s: two cores");
});

test("a call too soon after the last sample is measured against an older one, never over milliseconds", () => {
  const t = new CpuRateTracker({ minWindowMs: 1000 });
  assert.equal(t.observe("a", at(0, 0)), undefined);
  assert.equal(t.observe("a", at(0.5, 0.5)), undefined, "half a second after the first: no window yet");
  assert.equal(t.observe("a", at(10, 1)), S / 10n);
  assert.equal(t.observe("a", at(10.2, 3.04)), (3_040_000_000n * S) / 10_200_000_000n, "against the sample at 0 s");
  assert.equal(t.observe("a", at(12, 4)), (3n * S) / 2n, "against the sample at 10 s: 3 core-seconds in 2 s");
});

test("kubelet and crictl polling together do not shrink each other's window below the minimum", () => {
  const t = new CpuRateTracker({ minWindowMs: 1000 });
  t.observe("a", at(0, 0));
  t.observe("a", at(10, 10)); // kubelet
  assert.equal(t.observe("a", at(10.5, 10.5)), S, "crictl half a second later: kubelet's rate");
  assert.equal(t.observe("a", at(20, 15)), S / 2n, "kubelet again: 10 s window from its own last sample");
});

test("a counter that goes back (restart) starts the series over", () => {
  const t = new CpuRateTracker();
  t.observe("a", at(0, 100));
  t.observe("a", at(10, 110));
  assert.equal(t.observe("a", at(20, 1)), undefined);
  assert.equal(t.observe("a", at(30, 3)), S / 5n);
});

test("series are per object and forgotten when not seen for a while", () => {
  const t = new CpuRateTracker({ forgetAfterMs: 60_000 });
  t.observe("a", at(0, 0));
  t.observe("b", at(0, 0));
  assert.equal(t.size, 2);
  t.observe("b", at(30, 1));
  t.observe("b", at(100, 2));
  assert.equal(t.size, 1, "a was last seen 100 s ago");
  t.forget("b");
  assert.equal(t.size, 0);
});
