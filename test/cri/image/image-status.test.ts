import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { runtimeImages } from "../../../src/images/runtime-images.js";
import { CONFIGS, startHarness } from "./harness.js";
import type { Harness } from "./harness.js";

const codeOf = (e: unknown) => ConnectError.from(e).code;

describe("ImageStatus", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  test("an absent image is an empty answer, not an error", async () => {
    for (const image of ["busybox", `${"ab".repeat(32)}`, `sha256:${"cd".repeat(32)}`, `r.io/x@sha256:${"ef".repeat(32)}`, "abcdef12"]) {
      const st = await h.image.imageStatus({ image: { image } });
      assert.equal(st.image, undefined, image);
      assert.deepEqual(st.info, {});
    }
  });

  test("no image, or one that is not a reference: InvalidArgument", async () => {
    await assert.rejects(h.image.imageStatus({}), (e: unknown) => codeOf(e) === Code.InvalidArgument);
    await assert.rejects(h.image.imageStatus({ image: { image: "Not/A Ref" } }), (e: unknown) => codeOf(e) === Code.InvalidArgument);
  });

  test("uid or username from USER, as critest's image user specs want", async () => {
    const cases = [
      { tag: "uid", config: CONFIGS.uid, uid: 1002n, username: "" },
      { tag: "username", config: CONFIGS.username, uid: undefined, username: "www-data" },
      { tag: "uid-group", config: CONFIGS.uidGroup, uid: 1003n, username: "" },
      { tag: "username-group", config: CONFIGS.usernameGroup, uid: undefined, username: "www-data" },
      { tag: "none", config: CONFIGS.plain, uid: undefined, username: "" },
    ];
    for (const c of cases) {
      h.publish("users/image", c.tag, c.config);
      const ref = `${h.registry.host}/users/image:${c.tag}`;
      await h.image.pullImage({ image: { image: ref } });
      const st = (await h.image.imageStatus({ image: { image: ref } })).image!;
      assert.equal(st.uid?.value, c.uid, c.tag);
      assert.equal(st.username, c.username, c.tag);
    }
  });

  test("every kind of reference gives the same status (critest: image status should support all kinds of references)", async () => {
    const img = h.publish("team/all", "all", { ...CONFIGS.plain, marker: "all" });
    const ref = `${h.registry.host}/team/all:all`;
    await h.image.pullImage({ image: { image: ref } });
    const st = (await h.image.imageStatus({ image: { image: ref } })).image!;
    const hex = st.id.slice("sha256:".length);
    for (const name of [st.id, hex, hex.slice(0, 12), `sha256:${hex.slice(0, 12)}`, ...st.repoTags, ...st.repoDigests]) {
      assert.deepEqual((await h.image.imageStatus({ image: { image: name } })).image, st, name);
    }
    assert.deepEqual(st.repoDigests, [`${h.registry.host}/team/all@${img.manifest}`]);
    assert.equal(st.spec?.image, st.id);
    assert.equal(st.pinned, false);
  });

  test("verbose: the stored image config as JSON under info", async () => {
    h.publish("team/nginx", "1", CONFIGS.nginx);
    const ref = `${h.registry.host}/team/nginx:1`;
    await h.image.pullImage({ image: { image: ref } });
    const st = await h.image.imageStatus({ image: { image: ref }, verbose: true });
    const info = JSON.parse(st.info.info!) as { imageSpec: typeof CONFIGS.nginx; config: { workingDir: string }; portoNames: string[] };
    assert.deepEqual(info.imageSpec, CONFIGS.nginx);
    assert.equal(info.config.workingDir, "/usr/share/nginx");
    assert.deepEqual(info.portoNames, [ref]);
  });

  test("for the container lifecycle: id, repo digest and the whole config, which portod's API does not give", async () => {
    const img = h.publish("team/nginx", "2", { ...CONFIGS.nginx, marker: 2 });
    const ref = `${h.registry.host}/team/nginx:2`;
    const pulled = await h.image.pullImage({ image: { image: ref } });
    const images = runtimeImages(h.store, "registry.k8s.io/pause:3.7");
    const r = await images.resolve(ref);
    assert.equal(r?.id, pulled.imageRef);
    assert.equal(r?.ref, `${h.registry.host}/team/nginx@${img.manifest}`);
    assert.equal(r?.portoName, pulled.imageRef.slice("sha256:".length), "volumes name the image by id");
    assert.deepEqual(r?.config, {
      entrypoint: ["/docker-entrypoint.sh"],
      cmd: ["nginx", "-g", "daemon off;"],
      env: ["PATH=/bin", "NGINX_VERSION=1.14"],
      workingDir: "/usr/share/nginx",
      user: "101",
      stopSignal: "SIGQUIT",
      exposedPorts: ["80/tcp"],
      labels: { maintainer: "test" },
      volumes: [],
    });
    assert.deepEqual(await h.store.readImageConfig(pulled.imageRef), r?.config);
    assert.equal(await images.resolve(`${h.registry.host}/team/nginx:absent`), undefined);
  });

  test("portod is the truth: an image removed behind our back is gone, and so is its record", async () => {
    h.publish("team/gone", "1", { ...CONFIGS.plain, marker: "gone" });
    const ref = `${h.registry.host}/team/gone:1`;
    const { imageRef } = await h.image.pullImage({ image: { image: ref } });
    const record = join(h.dir, "state", "images", `${imageRef.slice(7)}.json`);
    assert.ok(existsSync(record));
    h.double.state.images.remove(imageRef.slice(7));
    assert.equal((await h.image.imageStatus({ image: { image: imageRef } })).image, undefined);
    assert.ok(!existsSync(record), "the record went with the image");
  });

  test("an image pulled without the shim: its repo digest from the manifest portod stored, and resolvable by it", async () => {
    const img = h.publish("team/outside", "1", { ...CONFIGS.plain, marker: "outside" });
    const ref = `${h.registry.host}/team/outside:1`;
    await h.porto.pullDockerImage({ name: ref });
    const st = (await h.image.imageStatus({ image: { image: ref } })).image!;
    assert.deepEqual(st.repoTags, [ref]);
    assert.deepEqual(st.repoDigests, [`${h.registry.host}/team/outside@${img.manifest}`]);
    assert.deepEqual((await h.image.imageStatus({ image: { image: st.repoDigests[0]! } })).image, st);
    assert.equal((await h.image.imageStatus({ image: { image: `${h.registry.host}/team/other@${img.manifest}` } })).image, undefined, "another repository");
  });

  test("an ambiguous id prefix is InvalidArgument; a unique one resolves", async () => {
    for (const [n, id] of [["1", "abc1".padEnd(64, "0")], ["2", "abc2".padEnd(64, "0")]] as const) {
      h.publish("team/prefix", n, { ...CONFIGS.plain, marker: `prefix${n}` }, { id });
      assert.equal((await h.image.pullImage({ image: { image: `${h.registry.host}/team/prefix:${n}` } })).imageRef, `sha256:${id}`);
    }
    for (const image of ["abc", "sha256:abc"]) {
      await assert.rejects(h.image.imageStatus({ image: { image } }), (e: unknown) => codeOf(e) === Code.InvalidArgument, image);
    }
    assert.equal((await h.image.imageStatus({ image: { image: "abc2" } })).image?.id, `sha256:${"abc2".padEnd(64, "0")}`);
  });
});
