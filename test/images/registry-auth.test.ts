import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { AuthConfigSchema } from "../../gen/runtime/v1/api_pb.js";
import type { RegistryConfig } from "../../src/config.js";
import {
  authorizationFor,
  basicAuthorization,
  decodeAuth,
  describeCredentials,
  InvalidCredentialsError,
  parseChallenges,
  portoPullAuth,
  RegistryAuthError,
  scrubSecrets,
  secretsOf,
  selectCredentials,
  tokenRequest,
} from "../../src/images/registry-auth.js";
import type { Credentials } from "../../src/images/registry-auth.js";
import { LoopbackRegistry } from "./loopback-registry.js";

const auth = (init: Parameters<typeof create<typeof AuthConfigSchema>>[1]) => create(AuthConfigSchema, init);
const b64 = (s: string) => Buffer.from(s).toString("base64");

const REGISTRIES: RegistryConfig[] = [
  { host: "registry-1.docker.io", authPath: "https://auth.docker.io/token", authService: "registry.docker.io" },
  { host: "quay.io", authToken: "OAuth quay-secret" },
  { host: "r.example:5000", authToken: "Bearer file-token", authTokenFile: "/etc/t" },
  { host: "plain.example" },
];

describe("credential selection: request, then config, then anonymous", () => {
  test("username and password from the request win over the config", () => {
    const c = selectCredentials(auth({ username: "u", password: "p" }), "quay.io", "quay.io", REGISTRIES);
    assert.deepEqual(c, { source: "request", kind: "basic", username: "u", password: "p" });
  });

  test("`auth` is base64 user:password, trailing NULs dropped", () => {
    const c = selectCredentials(auth({ auth: b64("u:p:w\0\0") }), "quay.io", "quay.io", []);
    assert.deepEqual(c, { source: "request", kind: "basic", username: "u", password: "p:w" });
    assert.throws(() => selectCredentials(auth({ auth: b64("nocolon") }), "quay.io", "quay.io", []), InvalidCredentialsError);
    assert.throws(() => selectCredentials(auth({ auth: "!!!" }), "quay.io", "quay.io", []), InvalidCredentialsError);
  });

  test("registry_token, then identity_token, are preferred to a password", () => {
    const both = auth({ username: "u", password: "p", identityToken: "id", registryToken: "reg" });
    assert.deepEqual(selectCredentials(both, "quay.io", "quay.io", []), { source: "request", kind: "registry-token", token: "reg" });
    const id = auth({ username: "<token>", password: "p", identityToken: "id" });
    assert.deepEqual(selectCredentials(id, "quay.io", "quay.io", []), {
      source: "request",
      kind: "identity-token",
      username: "<token>",
      token: "id",
    });
  });

  test("an AuthConfig for another registry is ignored, as containerd does", () => {
    const other = auth({ username: "u", password: "p", serverAddress: "https://other.example/v1/" });
    assert.equal(selectCredentials(other, "quay.io", "quay.io", REGISTRIES).source, "config");
    const same = auth({ username: "u", password: "p", serverAddress: "https://index.docker.io/v1/" });
    assert.equal(selectCredentials(same, "docker.io", "mirror.gcr.io", REGISTRIES).source, "request");
    const bare = auth({ username: "u", password: "p", serverAddress: "quay.io" });
    assert.equal(selectCredentials(bare, "quay.io", "quay.io", REGISTRIES).source, "request");
  });

  test("an empty AuthConfig falls through to the config", () => {
    assert.equal(selectCredentials(auth({}), "quay.io", "quay.io", REGISTRIES).kind, "header");
  });

  test("config: AuthToken as a header, AuthPath/AuthService as a token service, Docker Hub by any of its names", () => {
    assert.deepEqual(selectCredentials(undefined, "quay.io", "quay.io", REGISTRIES), {
      source: "config",
      kind: "header",
      host: "quay.io",
      value: "OAuth quay-secret",
    });
    assert.deepEqual(selectCredentials(undefined, "r.example:5000", "r.example:5000", REGISTRIES), {
      source: "config",
      kind: "header",
      host: "r.example:5000",
      value: "Bearer file-token",
    });
    assert.deepEqual(selectCredentials(undefined, "docker.io", "mirror.gcr.io", REGISTRIES), {
      source: "config",
      kind: "token-service",
      host: "registry-1.docker.io",
      authPath: "https://auth.docker.io/token",
      authService: "registry.docker.io",
    });
    const mirror: RegistryConfig[] = [{ host: "mirror.gcr.io", authToken: "Bearer m" }];
    assert.equal(selectCredentials(undefined, "docker.io", "mirror.gcr.io", mirror).kind, "header");
  });

  test("anonymous otherwise, and for a registry entry without credentials", () => {
    assert.deepEqual(selectCredentials(undefined, "gcr.io", "gcr.io", REGISTRIES), { source: "anonymous", kind: "anonymous" });
    assert.equal(selectCredentials(undefined, "plain.example", "plain.example", REGISTRIES).kind, "anonymous");
  });

  test("what the log may say about them", () => {
    assert.equal(describeCredentials({ source: "request", kind: "basic", username: "u", password: "secret" }), "request:basic");
  });
});

describe("encoding", () => {
  test("Basic is base64 of user:password", () => {
    assert.equal(basicAuthorization("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    assert.deepEqual(decodeAuth("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="), { username: "Aladdin", password: "open sesame" });
  });

  test("challenges: Docker's Bearer with quoted commas, several challenges, token68", () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"'), [
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:a/b:pull,push" } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="r", Bearer realm="https://t/x", service=s'), [
      { scheme: "basic", params: { realm: "r" } },
      { scheme: "bearer", params: { realm: "https://t/x", service: "s" } },
    ]);
    assert.deepEqual(parseChallenges('Negotiate abc==, Basic realm="x\\"y"'), [
      { scheme: "negotiate", params: {} },
      { scheme: "basic", params: { realm: 'x"y' } },
    ]);
    assert.deepEqual(parseChallenges(""), []);
  });

  const bearer = { scheme: "bearer", params: { realm: "https://auth.example/token", service: "reg" } };
  const scopes = ["repository:library/pause:pull", "repository:pause:pull"];

  test("token request for a password: GET with Basic, every scope", () => {
    const r = tokenRequest({ source: "request", kind: "basic", username: "u", password: "p" }, bearer, scopes);
    assert.equal(r.method, "GET");
    const u = new URL(r.url);
    assert.equal(u.origin + u.pathname, "https://auth.example/token");
    assert.equal(u.searchParams.get("service"), "reg");
    assert.deepEqual(u.searchParams.getAll("scope"), scopes);
    assert.equal(r.headers.authorization, basicAuthorization("u", "p"));
  });

  test("token request for an identity token: POST grant_type=refresh_token, no Authorization", () => {
    const r = tokenRequest({ source: "request", kind: "identity-token", username: "", token: "refresh" }, bearer, scopes);
    assert.equal(r.method, "POST");
    const form = new URLSearchParams(r.body);
    assert.equal(form.get("grant_type"), "refresh_token");
    assert.equal(form.get("refresh_token"), "refresh");
    assert.equal(form.get("service"), "reg");
    assert.deepEqual(form.getAll("scope"), scopes);
    assert.equal(r.headers.authorization, undefined);
  });

  test("token request for the config's AuthPath/AuthService, with credentials in the URL sent as Basic (as portod)", () => {
    const c: Credentials = { source: "config", kind: "token-service", host: "h", authPath: "https://bot:pw@auth.other/t", authService: "svc" };
    const r = tokenRequest(c, bearer, scopes);
    const u = new URL(r.url);
    assert.equal(u.origin + u.pathname, "https://auth.other/t");
    assert.equal(u.username, "");
    assert.equal(u.searchParams.get("service"), "svc");
    assert.equal(r.headers.authorization, basicAuthorization("bot", "pw"));
    const noService = tokenRequest({ ...c, authService: undefined }, { scheme: "bearer", params: {} }, scopes);
    assert.equal(new URL(noService.url).searchParams.get("service"), "auth.other");
  });

  test("anonymous token request: no Authorization", () => {
    const r = tokenRequest({ source: "anonymous", kind: "anonymous" }, bearer, scopes);
    assert.equal(r.headers.authorization, undefined);
  });

  test("what portod gets: never a bare password", () => {
    const basic: Credentials = { source: "request", kind: "basic", username: "u", password: "p" };
    assert.deepEqual(portoPullAuth(basic, "Bearer t"), { authToken: "Bearer t" });
    assert.deepEqual(portoPullAuth(basic, undefined), { authToken: basicAuthorization("u", "p") });
    assert.deepEqual(portoPullAuth({ source: "request", kind: "registry-token", token: "r" }, undefined), { authToken: "Bearer r" });
    assert.throws(() => portoPullAuth({ source: "request", kind: "identity-token", username: "", token: "i" }, undefined), RegistryAuthError);
    assert.deepEqual(portoPullAuth({ source: "config", kind: "header", host: "h", value: "OAuth x" }, "Bearer ignored"), { authToken: "OAuth x" });
    assert.deepEqual(portoPullAuth({ source: "config", kind: "token-service", host: "h", authPath: "https://a/t", authService: "s" }, "Bearer t"), {
      authPath: "https://a/t",
      authService: "s",
    });
    assert.deepEqual(portoPullAuth({ source: "anonymous", kind: "anonymous" }, undefined), {});
    assert.deepEqual(portoPullAuth({ source: "anonymous", kind: "anonymous" }, "Bearer anon"), { authToken: "Bearer anon" });
  });

  test("portod's messages lose every secret, even inside wget's command line", () => {
    const c: Credentials = { source: "request", kind: "basic", username: "u", password: "hunter22" };
    const secrets = secretsOf(c, { authToken: "Bearer tok-123456" });
    const msg =
      "helper: wget -qO /place/x --header=Authorization: Bearer tok-123456 https://r/v2/x stderr: 401 (password hunter22)";
    const out = scrubSecrets(msg, secrets);
    assert.ok(!out.includes("tok-123456"), out);
    assert.ok(!out.includes("hunter22"), out);
    assert.match(out, /Authorization: Bearer \[REDACTED\]/);
    assert.equal(scrubSecrets("Authorization: OAuth abcdef", []), "Authorization: OAuth [REDACTED]");
  });
});

describe("authorization against a loopback registry", () => {
  let reg: LoopbackRegistry;
  before(async () => {
    reg = await new LoopbackRegistry({ kind: "bearer", username: "u", password: "p", refreshToken: "refresh" }).start();
  });
  after(() => reg.close());

  const challenge = () => [{ scheme: "bearer", params: { realm: `${reg.origin}/token`, service: "loopback" } }];

  test("a password gets a bearer token from the realm", async () => {
    const h = await authorizationFor(reg.fetch, { source: "request", kind: "basic", username: "u", password: "p" }, challenge(), ["repository:a:pull"]);
    assert.match(h!, /^Bearer tok-/);
    assert.deepEqual(reg.tokens.get(h!.slice(7)), ["repository:a:pull"]);
  });

  test("an identity token is exchanged with POST", async () => {
    const h = await authorizationFor(reg.fetch, { source: "request", kind: "identity-token", username: "", token: "refresh" }, challenge(), ["repository:a:pull"]);
    assert.match(h!, /^Bearer tok-/);
    assert.equal(reg.seen.at(-1)?.method, "POST");
  });

  test("a wrong password is refused with the status, without the password", async () => {
    await assert.rejects(
      authorizationFor(reg.fetch, { source: "request", kind: "basic", username: "u", password: "wrong-pass" }, challenge(), []),
      (e: unknown) => e instanceof RegistryAuthError && e.status === 401 && !e.message.includes("wrong-pass"),
    );
  });

  test("a ready token is not exchanged; anonymous gets an anonymous token when the realm hands one out", async () => {
    const before = reg.seen.length;
    assert.equal(await authorizationFor(reg.fetch, { source: "config", kind: "header", host: "h", value: "Bearer x" }, challenge(), []), "Bearer x");
    assert.equal(reg.seen.length, before);
    reg.auth = { kind: "bearer" };
    try {
      assert.match((await authorizationFor(reg.fetch, { source: "anonymous", kind: "anonymous" }, challenge(), []))!, /^Bearer tok-/);
    } finally {
      reg.auth = { kind: "bearer", username: "u", password: "p", refreshToken: "refresh" };
    }
  });

  test("Basic challenges get Basic credentials, and nothing for anonymous", async () => {
    const basic = [{ scheme: "basic", params: { realm: "x" } }];
    assert.equal(await authorizationFor(reg.fetch, { source: "request", kind: "basic", username: "u", password: "p" }, basic, []), basicAuthorization("u", "p"));
    assert.equal(await authorizationFor(reg.fetch, { source: "anonymous", kind: "anonymous" }, basic, []), undefined);
  });
});
