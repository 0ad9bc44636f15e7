import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseReference } from "../../src/images/reference.js";
import { basicAuthorization, RegistryAuthError } from "../../src/images/registry-auth.js";
import type { Credentials } from "../../src/images/registry-auth.js";
import { DigestMismatchError, MANIFEST_ACCEPT, RegistryError, resolveManifest } from "../../src/images/registry-client.js";
import { LoopbackRegistry } from "./loopback-registry.js";

const anonymous: Credentials = { source: "anonymous", kind: "anonymous" };

describe("manifest digests from the registry", () => {
  let reg: LoopbackRegistry;
  before(async () => {
    reg = await new LoopbackRegistry().start();
  });
  after(() => reg.close());

  const resolve = (ref: string, credentials: Credentials = anonymous, architecture = "amd64") =>
    resolveManifest(parseReference(ref), { http: reg.fetch, credentials, architecture });

  test("a tag: the manifest's digest, its config digest and layers, with portod's Accept headers", async () => {
    const img = reg.addImage("team/app", "1", { config: { Cmd: ["x"] } }, 2);
    const r = await resolve(`${reg.host}/team/app:1`);
    assert.equal(r.manifestDigest, img.manifest);
    assert.equal(r.configDigest, img.config);
    assert.equal(r.layers.length, 2);
    assert.match(r.layers[0]!.digest, /^[0-9a-f]{64}$/);
    assert.equal(r.path, "team/app");
    assert.equal(r.authorization, undefined);
    const seen = reg.seen.at(-1)!;
    assert.equal(seen.path, "/v2/team/app/manifests/1");
  });

  test("docker.io names are asked of portod's registry, library/ first then without, as portod does", async () => {
    const img = reg.addImage("library/busybox", "1.35", { config: {} });
    const r = await resolve("busybox:1.35");
    assert.equal(r.manifestDigest, img.manifest);
    assert.equal(r.path, "library/busybox");
    const pause = reg.addImage("pause", "3.7", { config: { Entrypoint: ["/pause"] } });
    const p = await resolve("registry.k8s.io/pause:3.7");
    assert.equal(p.manifestDigest, pause.manifest);
    assert.equal(p.path, "pause");
    assert.deepEqual(
      reg.seen.slice(-2).map((s) => s.path),
      ["/v2/library/pause/manifests/3.7", "/v2/pause/manifests/3.7"],
    );
  });

  test("an index: its own digest is the repo digest, the config is the linux/<arch> entry's (the last one, as portod)", async () => {
    const amd = reg.addImage("multi", "amd", { architecture: "amd64", config: {} });
    const amd2 = reg.addImage("multi", "amd2", { architecture: "amd64", variant: "v2", config: {} });
    const arm = reg.addImage("multi", "arm", { architecture: "arm64", config: {} });
    const index = reg.addIndex("multi", "1", [
      { manifest: amd.manifest, architecture: "amd64" },
      { manifest: arm.manifest, architecture: "arm64" },
      { manifest: amd2.manifest, architecture: "amd64" },
      { manifest: amd.manifest, architecture: "amd64", os: "windows" },
    ]);
    const r = await resolve(`${reg.host}/multi:1`);
    assert.equal(r.manifestDigest, index);
    assert.equal(r.configDigest, amd2.config);
    assert.equal((await resolve(`${reg.host}/multi:1`, anonymous, "arm64")).configDigest, arm.config);
    await assert.rejects(resolve(`${reg.host}/multi:1`, anonymous, "s390x"), (e: unknown) => e instanceof RegistryError && e.status === 404);
  });

  test("a digest: fetched by digest and checked against the content", async () => {
    const img = reg.addImage("pinned", "v", { config: { User: "1" } });
    const r = await resolve(`${reg.host}/pinned@${img.manifest}`);
    assert.equal(r.configDigest, img.config);
    assert.equal(reg.seen.at(-1)!.path, `/v2/pinned/manifests/${img.manifest}`);
    reg.corrupt("pinned", img.manifest);
    await assert.rejects(resolve(`${reg.host}/pinned@${img.manifest}`), DigestMismatchError);
  });

  test("not there: a 404 RegistryError", async () => {
    await assert.rejects(resolve(`${reg.host}/nothing:1`), (e: unknown) => e instanceof RegistryError && e.status === 404);
    await assert.rejects(resolve(`${reg.host}/team/app:nope`), (e: unknown) => e instanceof RegistryError && e.status === 404);
  });

  test("a registry that does not answer: status 0", async () => {
    const dead = (async () => {
      throw new Error("connect ECONNREFUSED");
    }) as typeof reg.fetch;
    await assert.rejects(
      resolveManifest(parseReference("r.example/x:1"), { http: dead, credentials: anonymous }),
      (e: unknown) => e instanceof RegistryError && e.status === 0,
    );
  });

  test("Accept lists docker and OCI manifests and indexes", () => {
    assert.ok(MANIFEST_ACCEPT.includes("application/vnd.oci.image.index.v1+json"));
    assert.ok(MANIFEST_ACCEPT.includes("application/vnd.docker.distribution.manifest.list.v2+json"));
  });
});

describe("manifests behind authentication", () => {
  let reg: LoopbackRegistry;
  before(async () => {
    reg = await new LoopbackRegistry({ kind: "bearer", username: "u", password: "p", refreshToken: "refresh" }).start();
  });
  after(() => reg.close());

  test("bearer: 401, token exchange with the password, retry with the token; the token covers every path portod tries", async () => {
    const img = reg.addImage("pause", "3.7", { config: {} });
    const r = await resolveManifest(parseReference(`${reg.host}/pause:3.7`), {
      http: reg.fetch,
      credentials: { source: "request", kind: "basic", username: "u", password: "p" },
    });
    assert.equal(r.manifestDigest, img.manifest);
    assert.match(r.authorization!, /^Bearer tok-/);
    assert.deepEqual(reg.tokens.get(r.authorization!.slice(7)), ["repository:library/pause:pull", "repository:pause:pull"]);
    const token = reg.seen.find((s) => s.path.startsWith("/token"))!;
    assert.equal(token.authorization, basicAuthorization("u", "p"));
    // The password itself never went to the registry's /v2/ endpoints.
    for (const s of reg.seen.filter((x) => x.path.startsWith("/v2/"))) assert.ok(!s.authorization?.startsWith("Basic"), s.path);
  });

  test("refused credentials: RegistryAuthError 401", async () => {
    reg.addImage("x", "1", { config: {} });
    await assert.rejects(
      resolveManifest(parseReference(`${reg.host}/x:1`), {
        http: reg.fetch,
        credentials: { source: "request", kind: "basic", username: "u", password: "bad" },
      }),
      (e: unknown) => e instanceof RegistryAuthError && e.status === 401,
    );
    await assert.rejects(
      resolveManifest(parseReference(`${reg.host}/x:1`), { http: reg.fetch, credentials: anonymous }),
      (e: unknown) => e instanceof RegistryAuthError && e.status === 401,
    );
  });

  test("a registry token is sent as is, without a token exchange", async () => {
    reg.addImage("y", "1", { config: {} });
    reg.acceptedTokens.add("ready-token");
    const before = reg.seen.length;
    const r = await resolveManifest(parseReference(`${reg.host}/y:1`), {
      http: reg.fetch,
      credentials: { source: "request", kind: "registry-token", token: "ready-token" },
    });
    assert.equal(r.authorization, "Bearer ready-token");
    assert.deepEqual(
      reg.seen.slice(before).map((s) => s.path),
      ["/v2/library/y/manifests/1", "/v2/y/manifests/1"],
    );
  });

  test("basic registries get Basic", async () => {
    const basic = await new LoopbackRegistry({ kind: "basic", username: "u", password: "p" }).start();
    try {
      basic.addImage("z", "1", { config: {} });
      const r = await resolveManifest(parseReference(`${basic.host}/z:1`), {
        http: basic.fetch,
        credentials: { source: "request", kind: "basic", username: "u", password: "p" },
      });
      assert.equal(r.authorization, basicAuthorization("u", "p"));
    } finally {
      await basic.close();
    }
  });
});
