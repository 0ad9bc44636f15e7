import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  bareRepository,
  formatReference,
  fromPortoName,
  InvalidReferenceError,
  isImageId,
  normalizeReference,
  parseReference,
  portoImageName,
  registryPaths,
  sameRegistry,
} from "../../src/images/reference.js";

const D = "sha256:" + "ab".repeat(32);

describe("normalisation, as containerd's ParseDockerRef", () => {
  const table: Array<[string, string]> = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.35", "docker.io/library/busybox:1.35"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["docker.io/busybox", "docker.io/library/busybox:latest"],
    ["index.docker.io/library/busybox:1", "docker.io/library/busybox:1"],
    ["docker.io/library/busybox:latest", "docker.io/library/busybox:latest"],
    ["user/app", "docker.io/user/app:latest"],
    ["user/team/app:v1.2_3-rc", "docker.io/user/team/app:v1.2_3-rc"],
    ["registry.k8s.io/pause:3.7", "registry.k8s.io/pause:3.7"],
    ["registry.k8s.io/pause", "registry.k8s.io/pause:latest"],
    ["gcr.io/k8s-staging-cri-tools/test-image-tag:all", "gcr.io/k8s-staging-cri-tools/test-image-tag:all"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:1", "localhost:5000/app:1"],
    ["127.0.0.1:5000/a/b/c:2", "127.0.0.1:5000/a/b/c:2"],
    ["[::1]:5000/app", "[::1]:5000/app:latest"],
    ["Registry.Example.COM/app", "Registry.Example.COM/app:latest"],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1.35@${D}`, `docker.io/library/busybox@${D}`],
    [`quay.io/a/b:tag@${D}`, `quay.io/a/b@${D}`],
    ["user/a.b-c__d.e---f", "docker.io/user/a.b-c__d.e---f:latest"],
  ];
  for (const [input, want] of table) {
    test(`${input} → ${want}`, () => assert.equal(normalizeReference(input), want));
  }

  const bad: Array<[string, RegExp]> = [
    ["", /empty/],
    ["Busybox", /lowercase/],
    ["docker.io/Library/busybox", /lowercase/],
    ["busybox:", /invalid tag/],
    [`busybox:${"t".repeat(129)}`, /invalid tag/],
    ["busybox:-x", /invalid tag/],
    ["busybox@sha256:abc", /invalid/],
    [`busybox@sha512:${"a".repeat(128)}`, /unsupported digest/],
    ["busy box", /invalid reference/],
    [" busybox", /invalid reference/],
    ["a//b", /invalid repository/],
    ["a/b_", /invalid repository/],
    ["-a/b", /invalid (registry|repository)/],
    ["a_b.io/f", /invalid registry/],
    ["ab".repeat(32), /image ids/],
    [`${"a".repeat(250)}/${"b".repeat(10)}`, /255/],
  ];
  for (const [input, why] of bad) {
    test(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(() => parseReference(input), (e: unknown) => e instanceof InvalidReferenceError && why.test(e.message));
    });
  }

  test("parts", () => {
    assert.deepEqual(parseReference("busybox"), { domain: "docker.io", path: "library/busybox", tag: "latest" });
    assert.deepEqual(parseReference(`r.io:5000/x@${D}`), { domain: "r.io:5000", path: "x", digest: D });
    assert.equal(formatReference(parseReference("r.io/x")), "r.io/x:latest");
  });

  test("image ids are told apart from names", () => {
    assert.ok(isImageId("ab".repeat(32)));
    assert.ok(isImageId(D));
    assert.ok(!isImageId("abab"));
    assert.ok(!isImageId("sha256:abab"));
    assert.ok(!isImageId("AB".repeat(32)));
  });
});

describe("Porto spelling", () => {
  const toPorto: Array<[string, string]> = [
    ["busybox", "mirror.gcr.io/library/busybox:latest"],
    ["docker.io/user/app:1", "mirror.gcr.io/user/app:1"],
    ["mirror.gcr.io/library/busybox:1", "mirror.gcr.io/library/busybox:1"],
    ["registry.k8s.io/pause:3.7", "registry.k8s.io/pause:3.7"],
    [`busybox@${D}`, `mirror.gcr.io/library/busybox:${D}`],
    [`gcr.io/x/y:tag@${D}`, `gcr.io/x/y:${D}`],
  ];
  for (const [input, want] of toPorto) {
    test(`${input} is asked of portod as ${want}`, () => assert.equal(portoImageName(parseReference(input)), want));
  }

  const fromPorto: Array<[string, ReturnType<typeof fromPortoName>]> = [
    [
      "mirror.gcr.io/library/busybox:latest",
      { kind: "tag", reference: "docker.io/library/busybox:latest", repository: "docker.io/library/busybox" },
    ],
    ["mirror.gcr.io/user/app:1", { kind: "tag", reference: "docker.io/user/app:1", repository: "docker.io/user/app" }],
    ["registry.k8s.io/pause:3.7", { kind: "tag", reference: "registry.k8s.io/pause:3.7", repository: "registry.k8s.io/pause" }],
    ["localhost:5000/app:1", { kind: "tag", reference: "localhost:5000/app:1", repository: "localhost:5000/app" }],
    [`gcr.io/x/y:${D}`, { kind: "digest", reference: `gcr.io/x/y@${D}`, repository: "gcr.io/x/y" }],
    [`mirror.gcr.io/library/busybox:${D}`, { kind: "digest", reference: `docker.io/library/busybox@${D}`, repository: "docker.io/library/busybox" }],
    ["Not A Name", undefined],
  ];
  for (const [input, want] of fromPorto) {
    test(`portod's ${input} reads as ${want?.reference}`, () => assert.deepEqual(fromPortoName(input), want));
  }

  test("round trip: what we ask portod for reads back as the normalised reference", () => {
    for (const r of ["busybox", "user/app:1", "registry.k8s.io/pause:3.7", `busybox@${D}`, "localhost:5000/a/b:c"]) {
      const ref = parseReference(r);
      assert.equal(fromPortoName(portoImageName(ref))?.reference, formatReference(ref), r);
    }
  });

  test("repository paths portod tries, in its order", () => {
    assert.deepEqual(registryPaths(parseReference("registry.k8s.io/pause")), ["library/pause", "pause"]);
    assert.deepEqual(registryPaths(parseReference("busybox")), ["library/busybox", "busybox"]);
    assert.deepEqual(registryPaths(parseReference("r.io/library/x")), ["library/x", "x"]);
    assert.deepEqual(registryPaths(parseReference("r.io/a/b")), ["a/b"]);
    assert.deepEqual(registryPaths(parseReference("r.io/library/a/b")), ["library/a/b"]);
  });

  test("a bare repository, for list filters", () => {
    assert.equal(bareRepository("busybox"), "docker.io/library/busybox");
    assert.equal(bareRepository("localhost:5000/app"), "localhost:5000/app");
    assert.equal(bareRepository("busybox:1"), undefined);
    assert.equal(bareRepository(`busybox@${D}`), undefined);
    assert.equal(bareRepository("Not Valid"), undefined);
  });

  test("Docker Hub's names are one registry", () => {
    assert.ok(sameRegistry("registry-1.docker.io", "docker.io"));
    assert.ok(sameRegistry("index.docker.io", "docker.io"));
    assert.ok(sameRegistry("Quay.io", "quay.io"));
    assert.ok(!sameRegistry("mirror.gcr.io", "docker.io"));
    assert.ok(!sameRegistry("quay.io", "docker.io"));
  });
});
