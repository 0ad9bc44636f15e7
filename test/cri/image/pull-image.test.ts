import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { EError } from "../../../gen/rpc_pb.js";
import type { PullImageRequest as PortoPull } from "../../../src/porto/index.js";
import { PortoError } from "../../../src/porto/index.js";
import { ImageStore } from "../../../src/images/image-store.js";
import type { ImagePorto } from "../../../src/images/image-store.js";
import { openImageRecords } from "../../../src/images/image-records.js";
import pino from "pino";
import { CONFIGS, startHarness } from "./harness.js";
import type { Harness } from "./harness.js";

const codeOf = (e: unknown) => ConnectError.from(e).code;

/** Records the pull requests portod got; the rest passes through. */
function recording(pulls: PortoPull[]): (p: ImagePorto) => ImagePorto {
  return (p) => ({
    pullDockerImage: (req, opts) => {
      pulls.push(req);
      return p.pullDockerImage(req, opts);
    },
    listDockerImages: (o) => p.listDockerImages(o),
    dockerImageStatus: (n, o) => p.dockerImageStatus(n, o),
    removeDockerImage: (n, o) => p.removeDockerImage(n, o),
    getVolume: (paths, o) => p.getVolume(paths, o),
  });
}

describe("PullImage: names, ids and digests", () => {
  let h: Harness;
  const pulls: PortoPull[] = [];
  before(async () => {
    h = await startHarness({ wrapPorto: recording(pulls) });
  });
  after(() => h.close());

  test("a tag: image_ref is the id ListImages and ImageStatus report, with the tag and the manifest digest", async () => {
    const img = h.publish("team/app", "1", { ...CONFIGS.plain, marker: "app" });
    const ref = `${h.registry.host}/team/app:1`;
    const res = await h.image.pullImage({ image: { image: ref } });
    assert.equal(res.imageRef, img.config);
    const st = await h.image.imageStatus({ image: { image: ref } });
    assert.equal(st.image?.id, res.imageRef);
    assert.deepEqual(st.image?.repoTags, [ref]);
    assert.deepEqual(st.image?.repoDigests, [`${h.registry.host}/team/app@${img.manifest}`]);
    assert.ok((st.image?.size ?? 0n) > 0n);
    const list = await h.image.listImages({});
    assert.deepEqual(
      list.images.filter((i) => i.id === res.imageRef).map((i) => i.repoTags),
      [[ref]],
    );
    assert.equal(pulls.at(-1)?.name, ref, "portod is asked for the name as is");
    assert.equal(pulls.at(-1)?.authToken, undefined, "an open registry gets no credentials");
  });

  test("short and docker.io names are one image, stored by portod as mirror.gcr.io/library/..., reported as docker.io", async () => {
    const img = h.publish("library/busybox", "1.35", { ...CONFIGS.plain, marker: "busybox" }, { name: "busybox:1.35" });
    const res = await h.image.pullImage({ image: { image: "busybox:1.35" } });
    assert.equal(res.imageRef, img.config);
    assert.equal(pulls.at(-1)?.name, "mirror.gcr.io/library/busybox:1.35");
    for (const name of ["busybox:1.35", "docker.io/library/busybox:1.35", "docker.io/busybox:1.35", "index.docker.io/library/busybox:1.35", "mirror.gcr.io/library/busybox:1.35", res.imageRef]) {
      const st = await h.image.imageStatus({ image: { image: name } });
      assert.equal(st.image?.id, res.imageRef, name);
      assert.deepEqual(st.image?.repoTags, ["docker.io/library/busybox:1.35"], name);
      assert.deepEqual(st.image?.repoDigests, [`docker.io/library/busybox@${img.manifest}`], name);
    }
    // Asked for by its portod name too: both names are what users pulled.
    await h.image.pullImage({ image: { image: "mirror.gcr.io/library/busybox:1.35" } });
    const st = await h.image.imageStatus({ image: { image: "busybox:1.35" } });
    assert.deepEqual(st.image?.repoTags, ["docker.io/library/busybox:1.35", "mirror.gcr.io/library/busybox:1.35"]);
  });

  test("a digest: portod fetches that manifest; no repo tag, the digest as repo digest, resolvable every way", async () => {
    const img = h.publish("team/pinned", "v9", { ...CONFIGS.plain, marker: "pinned" });
    const ref = `${h.registry.host}/team/pinned@${img.manifest}`;
    const res = await h.image.pullImage({ image: { image: ref } });
    assert.equal(res.imageRef, img.config);
    assert.equal(pulls.at(-1)?.name, `${h.registry.host}/team/pinned:${img.manifest}`, "a digest tag, not @ (which portod pulls as latest)");
    const st = await h.image.imageStatus({ image: { image: ref } });
    assert.equal(st.image?.id, res.imageRef);
    assert.deepEqual(st.image?.repoTags, []);
    assert.deepEqual(st.image?.repoDigests, [ref]);
    assert.deepEqual((await h.image.imageStatus({ image: { image: res.imageRef } })).image, st.image);
  });

  test("tag and digest: the digest wins", async () => {
    const img = h.publish("team/both", "v1", { ...CONFIGS.plain, marker: "both" });
    const res = await h.image.pullImage({ image: { image: `${h.registry.host}/team/both:v1@${img.manifest}` } });
    assert.equal(res.imageRef, img.config);
    assert.equal(pulls.at(-1)?.name, `${h.registry.host}/team/both:${img.manifest}`);
  });

  test("a digest the registry serves other content for is refused before portod pulls", async () => {
    const img = h.publish("team/liar", "v1", { ...CONFIGS.plain, marker: "liar" });
    h.registry.corrupt("team/liar", img.manifest);
    const before = pulls.length;
    await assert.rejects(h.image.pullImage({ image: { image: `${h.registry.host}/team/liar@${img.manifest}` } }), (e: unknown) => codeOf(e) === Code.FailedPrecondition);
    assert.equal(pulls.length, before);
  });

  test("an image the registry does not have: NotFound, and portod is not bothered", async () => {
    const before = pulls.length;
    await assert.rejects(h.image.pullImage({ image: { image: `${h.registry.host}/team/absent:1` } }), (e: unknown) => codeOf(e) === Code.NotFound);
    assert.equal(pulls.length, before);
  });

  test("bad references and empty specs: InvalidArgument", async () => {
    for (const image of ["", "upper/Case", "a b", `x@sha256:${"z".repeat(64)}`]) {
      await assert.rejects(h.image.pullImage({ image: { image } }), (e: unknown) => codeOf(e) === Code.InvalidArgument, image);
    }
    await assert.rejects(h.image.pullImage({}), (e: unknown) => codeOf(e) === Code.InvalidArgument);
  });

  test("the records survive a restart: a new store over the same state reports the same names and digests", async () => {
    const st = await h.image.imageStatus({ image: { image: "busybox:1.35" } });
    const file = join(h.dir, "state", "images", `${st.image!.id.slice("sha256:".length)}.json`);
    const record = JSON.parse(await readFile(file, "utf8")) as { names: Record<string, string[]>; digests: string[] };
    assert.deepEqual(record.names["mirror.gcr.io/library/busybox:1.35"], ["docker.io/library/busybox:1.35", "mirror.gcr.io/library/busybox:1.35"]);
    // Pulled under both spellings, so the repo digest is known in both.
    assert.equal(record.digests.length, 2);
    const reopened = new ImageStore({
      porto: h.porto,
      imagesDir: h.imagesDir,
      records: await openImageRecords(join(h.dir, "state"), () => undefined),
      registries: [],
      pauseImage: "registry.k8s.io/pause:3.7",
      pullTimeoutMs: 1000,
      logger: pino({ level: "silent" }),
    });
    const again = await reopened.resolve("docker.io/library/busybox:1.35");
    assert.deepEqual(again?.repoTags, st.image!.repoTags);
    assert.deepEqual(again?.repoDigests, st.image!.repoDigests);
  });
});

describe("PullImage: credentials", () => {
  const PASSWORD = "s3cr3t-Passw0rd";

  test("username and password: portod gets a bearer token from the exchange, never the password", async () => {
    const pulls: PortoPull[] = [];
    const h = await startHarness({ registryAuth: { kind: "bearer", username: "robot", password: PASSWORD }, wrapPorto: recording(pulls) });
    try {
      const img = h.publish("private/app", "1", { ...CONFIGS.plain, marker: "private" });
      const res = await h.image.pullImage({ image: { image: `${h.registry.host}/private/app:1` }, auth: { username: "robot", password: PASSWORD } });
      assert.equal(res.imageRef, img.config);
      assert.match(pulls[0]!.authToken!, /^Bearer tok-/);
      assert.ok(h.registry.tokens.has(pulls[0]!.authToken!.slice(7)), "a token the registry issued");
      // Without credentials the registry refuses: Unauthenticated, before portod.
      await assert.rejects(h.image.pullImage({ image: { image: `${h.registry.host}/private/app:1` } }), (e: unknown) => codeOf(e) === Code.Unauthenticated);
      await assert.rejects(
        h.image.pullImage({ image: { image: `${h.registry.host}/private/app:1` }, auth: { username: "robot", password: "wrong" } }),
        (e: unknown) => codeOf(e) === Code.Unauthenticated,
      );
      assert.equal(pulls.length, 1);
      const log = await h.logText();
      assert.ok(!log.includes(PASSWORD), "the password is not logged");
      assert.ok(!log.includes(pulls[0]!.authToken!.slice(7)), "the token is not logged");
      assert.ok(!log.includes(Buffer.from(`robot:${PASSWORD}`).toString("base64")), "nor its base64");
      assert.match(log, /"credentials":"request:basic"/);
    } finally {
      await h.close();
    }
  });

  test("`auth` (base64) against a Basic registry: portod gets Basic", async () => {
    const pulls: PortoPull[] = [];
    const h = await startHarness({ registryAuth: { kind: "basic", username: "u", password: PASSWORD }, wrapPorto: recording(pulls) });
    try {
      h.publish("b/app", "1", { ...CONFIGS.plain, marker: "basic" });
      const auth = Buffer.from(`u:${PASSWORD}`).toString("base64");
      await h.image.pullImage({ image: { image: `${h.registry.host}/b/app:1` }, auth: { auth } });
      assert.equal(pulls[0]!.authToken, `Basic ${auth}`);
      assert.ok(!(await h.logText()).includes(auth));
    } finally {
      await h.close();
    }
  });

  test("identity and registry tokens", async () => {
    const pulls: PortoPull[] = [];
    const h = await startHarness({ registryAuth: { kind: "bearer", refreshToken: "refresh-XYZ" }, wrapPorto: recording(pulls) });
    try {
      h.publish("t/app", "1", { ...CONFIGS.plain, marker: "tokens" });
      const image = { image: `${h.registry.host}/t/app:1` };
      await h.image.pullImage({ image, auth: { identityToken: "refresh-XYZ" } });
      assert.match(pulls[0]!.authToken!, /^Bearer tok-/);
      assert.equal(h.registry.seen.find((s) => s.path === "/token")?.method, "POST");
      h.registry.acceptedTokens.add("ready-ABC");
      await h.image.pullImage({ image, auth: { registryToken: "ready-ABC" } });
      assert.equal(pulls[1]!.authToken, "Bearer ready-ABC");
      const log = await h.logText();
      assert.ok(!log.includes("refresh-XYZ") && !log.includes("ready-ABC"));
    } finally {
      await h.close();
    }
  });

  test("config: AuthToken sent as is, AuthPath/AuthService left to portod, request credentials first", async () => {
    const pulls: PortoPull[] = [];
    const h = await startHarness({
      wrapPorto: recording(pulls),
      registries: [
        { host: "127.0.0.1:1", authToken: "unused" },
        { host: "mirror.gcr.io", authToken: "OAuth cfg-token" },
        { host: "quay.io", authPath: "https://quay.io/v2/auth", authService: "quay.io" },
      ],
    });
    try {
      h.publish("library/alpine", "3", { ...CONFIGS.plain, marker: "alpine" }, { name: "alpine:3" });
      await h.image.pullImage({ image: { image: "alpine:3" } });
      assert.equal(pulls.at(-1)?.authToken, "OAuth cfg-token", "docker.io images are pulled from portod's mirror.gcr.io: its entry applies");
      h.publish("org/tool", "2", { ...CONFIGS.plain, marker: "quay" }, { name: "quay.io/org/tool:2" });
      await h.image.pullImage({ image: { image: "quay.io/org/tool:2" } });
      assert.deepEqual(
        { authToken: pulls.at(-1)?.authToken, authPath: pulls.at(-1)?.authPath, authService: pulls.at(-1)?.authService },
        { authToken: undefined, authPath: "https://quay.io/v2/auth", authService: "quay.io" },
      );
      await h.image.pullImage({ image: { image: "alpine:3" }, auth: { registryToken: "req-token" } });
      assert.equal(pulls.at(-1)?.authToken, "Bearer req-token", "the request's credentials come first");
      assert.ok(!(await h.logText()).includes("cfg-token"));
    } finally {
      await h.close();
    }
  });

  test("portod's error messages lose the token before reaching the caller and the log", async () => {
    const TOKEN = "tok-very-secret-1234";
    const h = await startHarness({
      wrapPorto: (p) => ({
        ...recording([])(p),
        pullDockerImage: async (req) => {
          throw new PortoError(
            EError.Unknown,
            `HTTP request to https://r/v2/x/manifests/1 failed: status 401; helper: wget -qO /place/x.tar.gz --header=Authorization: ${req.authToken} https://r/v2/x/blobs/sha256:1 stderr: `,
            { method: "pullDockerImage" },
          );
        },
      }),
    });
    try {
      h.registry.acceptedTokens.add(TOKEN);
      h.registry.auth = { kind: "bearer" };
      h.publish("x/app", "1", { ...CONFIGS.plain, marker: "err" });
      await assert.rejects(h.image.pullImage({ image: { image: `${h.registry.host}/x/app:1` }, auth: { registryToken: TOKEN } }), (e: unknown) => {
        const err = ConnectError.from(e);
        assert.ok(!err.rawMessage.includes(TOKEN), err.rawMessage);
        assert.match(err.rawMessage, /Authorization: Bearer \[REDACTED\]/);
        assert.equal(err.code, Code.Unauthenticated, "the 401 in portod's message");
        return true;
      });
      assert.ok(!(await h.logText()).includes(TOKEN));
    } finally {
      await h.close();
    }
  });
});

describe("PullImage: sharing, deadlines, progress, the pause image", () => {
  test("concurrent pulls of one image share one portod pull", async () => {
    const pulls: PortoPull[] = [];
    const h = await startHarness({ wrapPorto: recording(pulls) });
    try {
      const img = h.publish("team/big", "1", { ...CONFIGS.plain, marker: "big" }, { pullDelayMs: 300 });
      const image = { image: `${h.registry.host}/team/big:1` };
      const results = await Promise.all(Array.from({ length: 5 }, () => h.image.pullImage({ image })));
      assert.deepEqual(
        results.map((r) => r.imageRef),
        Array(5).fill(img.config),
      );
      assert.equal(pulls.length, 1);
      // Different credentials do not share: a pull never succeeds on someone else's.
      const again = await Promise.all([h.image.pullImage({ image }), h.image.pullImage({ image, auth: { registryToken: "other" } })]);
      assert.equal(again[0].imageRef, again[1].imageRef);
      assert.equal(pulls.length, 3);
    } finally {
      await h.close();
    }
  });

  test("a pull may outlast Porto.SocketTimeout; Images.PullTimeout bounds it", async () => {
    let h = await startHarness({ socketTimeoutMs: 150, pullTimeoutMs: 5_000 });
    try {
      const img = h.publish("team/slow", "1", { ...CONFIGS.plain, marker: "slow" }, { pullDelayMs: 600 });
      const res = await h.image.pullImage({ image: { image: `${h.registry.host}/team/slow:1` } });
      assert.equal(res.imageRef, img.config);
    } finally {
      await h.close();
    }
    h = await startHarness({ socketTimeoutMs: 5_000, pullTimeoutMs: 200 });
    try {
      h.publish("team/slow", "1", { ...CONFIGS.plain, marker: "slow" }, { pullDelayMs: 800 });
      await assert.rejects(h.image.pullImage({ image: { image: `${h.registry.host}/team/slow:1` } }), (e: unknown) => {
        assert.equal(codeOf(e), Code.DeadlineExceeded);
        assert.match(ConnectError.from(e).rawMessage, /PullTimeout/);
        return true;
      });
    } finally {
      await h.close();
    }
  });

  test("progress is logged at info while a pull runs", async () => {
    const h = await startHarness({ progressIntervalMs: 100 });
    try {
      h.publish("team/progress", "1", { ...CONFIGS.plain, marker: "progress" }, { pullDelayMs: 450 });
      await h.image.pullImage({ image: { image: `${h.registry.host}/team/progress:1` } });
      const lines = (await h.logText()).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; layers?: string });
      const progress = lines.filter((l) => l.msg === "pulling image: in progress");
      assert.ok(progress.length >= 2, `${progress.length} progress lines`);
      assert.ok(progress.every((l) => l.level === 30 && l.layers === "0/1"));
      assert.ok(lines.some((l) => l.msg === "pulling image" && l.level === 30));
      assert.ok(lines.some((l) => l.msg === "image pulled" && l.level === 30));
    } finally {
      await h.close();
    }
  });

  test("the pause image: pulled on first use with the configured credentials, and pinned", async () => {
    const pulls: PortoPull[] = [];
    const h = await startHarness({
      wrapPorto: recording(pulls),
      pauseImage: "registry.k8s.io/pause:3.7",
      registries: [{ host: "registry.k8s.io", authToken: "Bearer pause-cfg" }],
    });
    try {
      h.registry.acceptedTokens.add("pause-cfg");
      h.registry.auth = { kind: "bearer" };
      const pause = h.publish("pause", "3.7", { architecture: "amd64", os: "linux", config: { Entrypoint: ["/pause"], User: "65535:65535" } }, { name: "registry.k8s.io/pause:3.7" });
      const other = h.publish("team/other", "1", { ...CONFIGS.plain, marker: "other" });
      assert.equal((await h.image.imageStatus({ image: { image: "registry.k8s.io/pause:3.7" } })).image, undefined);
      const ensured = await h.store.ensure("registry.k8s.io/pause:3.7");
      assert.equal(ensured.id, pause.config);
      assert.equal(pulls.length, 1);
      assert.equal(pulls[0]!.authToken, "Bearer pause-cfg");
      await h.store.ensure("registry.k8s.io/pause:3.7");
      assert.equal(pulls.length, 1, "not pulled again");
      await h.image.pullImage({ image: { image: `${h.registry.host}/team/other:1` } });
      const list = await h.image.listImages({});
      assert.equal(list.images.find((i) => i.id === pause.config)?.pinned, true);
      assert.equal(list.images.find((i) => i.id === other.config)?.pinned, false);
      // Pinned is advice: removing it when asked still works.
      await h.image.removeImage({ image: { image: "registry.k8s.io/pause:3.7" } });
      assert.equal((await h.image.imageStatus({ image: { image: pause.config } })).image, undefined);
    } finally {
      await h.close();
    }
  });
});
