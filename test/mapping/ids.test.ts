import { test } from "node:test";
import assert from "node:assert/strict";
import { isFullId, newId, resolveIdPrefix } from "../../src/mapping/ids.js";
import { containerPortoName, parsePortoName, podPortoName } from "../../src/mapping/porto-names.js";

const a = "ab" + "0".repeat(62);
const b = "ab" + "1".repeat(62);

test("new ids are 64 lower-case hex digits and differ", () => {
  const x = newId();
  assert.ok(isFullId(x));
  assert.notEqual(x, newId());
});

test("prefix resolution: unique, exact, ambiguous, none, invalid", () => {
  assert.deepEqual(resolveIdPrefix("ab0", [a, b]), { kind: "found", id: a });
  assert.deepEqual(resolveIdPrefix(a, [a, b]), { kind: "found", id: a });
  assert.equal(resolveIdPrefix("ab", [a, b]).kind, "ambiguous");
  assert.equal(resolveIdPrefix("cd", [a, b]).kind, "none");
  assert.equal(resolveIdPrefix("AB0", [a, b]).kind, "none");
  assert.equal(resolveIdPrefix("", [a, b]).kind, "invalid");
});

test("Porto names round-trip and stay within Porto's limits", () => {
  assert.deepEqual(parsePortoName(podPortoName(a)), { kind: "pod", podId: a });
  assert.deepEqual(parsePortoName(containerPortoName(a, b)), { kind: "container", podId: a, containerId: b });
  assert.ok(containerPortoName(a, b).length <= 200);
  for (const foreign of ["k8s-xyz", "other/" + a, "k8s-" + a + "/x", "/", "k8s-" + a + "/" + b + "/c"]) {
    assert.equal(parsePortoName(foreign).kind, "foreign", foreign);
  }
});
