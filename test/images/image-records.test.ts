import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { prune, withPull } from "../../src/images/image-records.js";

describe("image records", () => {
  test("a pull adds its name and digest once", () => {
    const a = withPull(undefined, "mirror.gcr.io/library/busybox:latest", "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:aa");
    assert.deepEqual(a, {
      names: { "mirror.gcr.io/library/busybox:latest": ["docker.io/library/busybox:latest"] },
      digests: ["docker.io/library/busybox@sha256:aa"],
    });
    assert.equal(withPull(a, "mirror.gcr.io/library/busybox:latest", "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:aa"), a);
    const b = withPull(a, "mirror.gcr.io/library/busybox:latest", "mirror.gcr.io/library/busybox:latest", undefined);
    assert.deepEqual(b.names["mirror.gcr.io/library/busybox:latest"], ["docker.io/library/busybox:latest", "mirror.gcr.io/library/busybox:latest"]);
    assert.deepEqual(a.names["mirror.gcr.io/library/busybox:latest"], ["docker.io/library/busybox:latest"], "the old record is left alone");
  });

  test("names portod no longer lists go; an empty record goes", () => {
    const r = { names: { "a:1": ["x/a:1"], "a:2": ["x/a:2"] }, digests: [] };
    assert.deepEqual(prune(r, ["a:2"]), { names: { "a:2": ["x/a:2"] }, digests: [] });
    assert.equal(prune(r, []), undefined);
    assert.deepEqual(prune({ names: {}, digests: ["d"] }, []), { names: {}, digests: ["d"] });
  });
});
