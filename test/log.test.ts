import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  TContainerSetPropertyRequestSchema,
  TContainerSpecSchema,
  TDockerImagePullRequestSchema,
} from "../gen/rpc_pb.js";
import { CreateContainerRequestSchema, PullImageRequestSchema } from "../gen/runtime/v1/api_pb.js";
import { createLogger, LOG_FILE_NAME, REDACTED, redactRequest } from "../src/log.js";
import type { PortoshimLog } from "../src/log.js";

const root = mkdtempSync(join(tmpdir(), "portoshim-log-"));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A logger in a fresh nested directory, closed by the caller. */
function fresh(debug = false): PortoshimLog {
  return createLogger({ logsDir: join(root, `case-${n++}`, "nested", "logs"), debug });
}

function lines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const SECRET = "s3cr3t-value";

describe("log file", () => {
  test("is created with its parent directories, one JSON object per line", async () => {
    const log = fresh();
    assert.ok(log.file.endsWith(join("nested", "logs", LOG_FILE_NAME)));
    assert.ok(existsSync(log.file));
    // 0640 asked for; the umask may only take more away.
    assert.equal(statSync(log.file).mode & 0o137, 0);
    log.logger.info({ podId: "p1" }, "hello");
    await log.close();
    const [line] = lines(log.file);
    assert.equal(line!.msg, "hello");
    assert.equal(line!.podId, "p1");
    assert.equal(line!.level, 30);
    assert.equal(line!.pid, process.pid);
    assert.equal(typeof line!.time, "string");
  });

  test("info level by default: debug lines are dropped", async () => {
    const log = fresh(false);
    log.logger.debug("quiet");
    log.logger.info("loud");
    await log.close();
    assert.deepEqual(lines(log.file).map((l) => l.msg), ["loud"]);
  });

  test("debug level with debug: true", async () => {
    const log = fresh(true);
    log.logger.debug("quiet");
    log.logger.info("loud");
    await log.close();
    assert.deepEqual(lines(log.file).map((l) => [l.level, l.msg]), [
      [20, "quiet"],
      [30, "loud"],
    ]);
  });

  test("reopen after logrotate's rename sends new lines to a new file", async () => {
    const log = fresh();
    log.logger.info("first");
    renameSync(log.file, `${log.file}.1`);
    assert.equal(log.reopen(), true);
    log.logger.info("second");
    await log.close();
    assert.deepEqual(lines(`${log.file}.1`).map((l) => l.msg), ["first"]);
    assert.deepEqual(lines(log.file).map((l) => l.msg), ["second"]);
  });

  test("close is idempotent and reopen after close reports failure", async () => {
    const log = fresh();
    log.logger.info("x");
    await log.close();
    await log.close();
    assert.equal(log.reopen(), false);
  });

  test("an unusable directory throws at creation", () => {
    const blocker = join(root, "not-a-dir");
    writeFileSync(blocker, "");
    assert.throws(() => createLogger({ logsDir: join(blocker, "logs"), debug: false }), /ENOTDIR|EEXIST/);
  });
});

describe("redaction in the log", () => {
  /** Logs `obj` and returns the raw text written, for "the secret is nowhere" checks. */
  async function logged(obj: object, bindings?: Record<string, unknown>): Promise<string> {
    const log = fresh();
    const target = bindings === undefined ? log.logger : log.logger.child(bindings);
    target.info(obj, "request");
    await log.close();
    return readFileSync(log.file, "utf8");
  }

  const secretNames = [
    "auth",
    "password",
    "identity_token",
    "identityToken",
    "registry_token",
    "registryToken",
    "authToken",
    "AuthToken",
    "auth_token",
  ];
  for (const name of secretNames) {
    test(`${name} at the top and deep inside`, async () => {
      const text = await logged({
        [name]: SECRET,
        req: { [name]: SECRET },
        a: { b: { c: { d: { e: { [name]: SECRET } } } } },
        list: [{ items: [{ [name]: SECRET }] }],
      });
      assert.ok(!text.includes(SECRET), text);
      const line = JSON.parse(text) as { a: { b: { c: { d: { e: Record<string, unknown> } } } } };
      assert.equal(line.a.b.c.d.e[name], REDACTED);
    });
  }

  test("CRI PullImageRequest.auth (protobuf-es message)", async () => {
    const req = create(PullImageRequestSchema, {
      image: { image: "registry-1.docker.io/library/busybox:latest" },
      auth: {
        username: "user",
        password: SECRET,
        auth: SECRET,
        identityToken: SECRET,
        registryToken: SECRET,
        serverAddress: "registry-1.docker.io",
      },
    });
    const text = await logged({ req: { wrapped: { req } } });
    assert.ok(!text.includes(SECRET), text);
    assert.ok(text.includes("busybox"), "non-secret fields stay");
    assert.equal(req.auth!.password, SECRET, "the request itself is untouched");
  });

  test("CRI ContainerConfig.envs values, names kept", async () => {
    const req = create(CreateContainerRequestSchema, {
      podSandboxId: "pod",
      config: {
        metadata: { name: "c" },
        // This CRI proto declares KeyValue.value as bytes, so values are Uint8Array here.
        envs: [
          { key: "DB_PASSWORD", value: new TextEncoder().encode(SECRET) },
          { key: "EMPTY", value: new Uint8Array() },
        ],
      },
    });
    const text = await logged({ req });
    const line = JSON.parse(text) as { req: { config: { envs: Array<{ key: string; value: unknown }> } } };
    assert.deepEqual(
      line.req.config.envs.map(({ key, value }) => ({ key, value })),
      [
        { key: "DB_PASSWORD", value: REDACTED },
        { key: "EMPTY", value: {} },
      ],
    );
    assert.equal(new TextDecoder().decode(req.config!.envs[0]!.value), SECRET, "the request itself is untouched");
    // Deeper than pino's paths reach, with string values as other callers may log them.
    const deep = await logged({ a: { b: { c: { envs: [{ key: "K", value: SECRET }] } } } });
    assert.ok(!deep.includes(SECRET), deep);
  });

  test("Porto pull authToken, spec env and env_secret, SetProperty env (proto2 messages)", async () => {
    const pull = create(TDockerImagePullRequestSchema, { name: "busybox", authToken: SECRET, authService: "svc" });
    const spec = create(TContainerSpecSchema, {
      name: "pod/c",
      env: { var: [{ name: "A", value: SECRET, salt: "salt", hash: SECRET }], merge: true },
      envSecret: { var: [{ name: "B", value: SECRET }] },
    });
    const set = create(TContainerSetPropertyRequestSchema, { name: "pod/c", property: "env", value: `A=${SECRET};B=x` });
    const setOne = { name: "pod/c", property: "env[A]", value: SECRET };
    const got = { list: [{ name: "pod/c", keyval: [{ variable: "env", value: `A=${SECRET}` }] }] };
    const text = await logged({ porto: { pull, spec, set, setOne, got } });
    assert.ok(!text.includes(SECRET), text);
    assert.ok(text.includes('"name":"A"') && text.includes('"authService":"svc"'), text);
  });

  test("child-logger bindings", async () => {
    const text = await logged({ x: 1 }, { auth: { password: SECRET }, ctx: { password: SECRET } });
    assert.ok(!text.includes(SECRET), text);
  });
});

describe("redactRequest", () => {
  test("copies only what it changes and never mutates", () => {
    const untouched = { image: { image: "busybox" } };
    const input = { untouched, creds: { password: SECRET, username: "u" } };
    const out = redactRequest(input);
    assert.equal(input.creds.password, SECRET);
    assert.equal(out.untouched, untouched, "unchanged subtrees are shared");
    assert.deepEqual(out.creds, { password: REDACTED, username: "u" });
    const clean = { a: [1, { b: "c" }] };
    assert.equal(redactRequest(clean), clean);
  });

  test("empty secrets stay empty; primitives pass through", () => {
    assert.deepEqual(redactRequest({ password: "", auth: null, authToken: undefined }), {
      password: "",
      auth: null,
      authToken: undefined,
    });
    assert.equal(redactRequest("text"), "text");
    assert.equal(redactRequest(null), null);
  });

  test("env string forms", () => {
    assert.deepEqual(redactRequest({ config: { env: ["PATH=/bin", "BARE"] }, env: "A=1;B=2" }), {
      config: { env: [`PATH=${REDACTED}`, REDACTED] },
      env: REDACTED,
    });
  });

  test("cycles, errors and buffers are left alone", () => {
    const a: Record<string, unknown> = { password: SECRET };
    a.self = a;
    const out = redactRequest(a) as Record<string, unknown>;
    assert.equal(out.password, REDACTED);
    const err = new Error("boom");
    const buf = Buffer.from("x");
    const o = { err, buf };
    assert.equal(redactRequest(o), o);
  });
});
