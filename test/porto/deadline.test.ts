import { test } from "node:test";
import assert from "node:assert/strict";
import { atDeadline } from "../../src/porto/deadline.js";

test("a deadline beyond setTimeout's 24.8-day range does not fire at once", async () => {
  let fired = false;
  const cancel = atDeadline(Date.now() + 30 * 24 * 3600 * 1000, () => (fired = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  cancel();
  assert.equal(fired, false);
});

test("a near deadline fires once, and a cancelled one never", async () => {
  let fired = 0;
  let cancelledFired = false;
  atDeadline(Date.now() + 5, () => fired++);
  const cancel = atDeadline(Date.now() + 5, () => (cancelledFired = true));
  cancel();
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(fired, 1);
  assert.equal(cancelledFired, false);
});
