/**
 * Contracts: docker image names as portod normalises and reports them.
 * Against a real portod this only pulls images the lab registry serves
 * (and which are already in its store), and never removes any.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import type { ImageSeed } from "../../porto-double/index.js";

const BUSYBOX_ID = "1da1010c3226a3fba4b2b9f3e9b0d5a6c2f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1";
const SEEDS: ImageSeed[] = [
  { name: "busybox:latest", id: BUSYBOX_ID, cmd: ["sh"], env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
  { name: "busybox:1.35", id: BUSYBOX_ID, cmd: ["sh"] },
  { name: "registry.k8s.io/pause:3.7", id: "4ec819f79a21".padEnd(64, "0"), cmd: ["/pause"] },
];

contract(
  "docker images",
  (t) => {
    it("stores short and docker.io names as mirror.gcr.io/library/..., tag latest by default", async () => {
      const c = await t().connect();
      const pulled = (await c.call({ pullDockerImage: { name: "busybox" } }, 120_000)).pullDockerImage!.image!;
      assert.ok(pulled.tags.includes("mirror.gcr.io/library/busybox:latest"), pulled.tags.join(","));
      assert.match(pulled.id, /^[0-9a-f]{64}$/);
      assert.deepEqual(pulled.digests, [`sha256:${pulled.id}`]);
      for (const ref of ["busybox:latest", "docker.io/library/busybox", "docker.io/busybox:latest", "mirror.gcr.io/library/busybox"]) {
        const st = (await c.call({ dockerImageStatus: { name: ref } })).dockerImageStatus!.image!;
        assert.equal(st.id, pulled.id, ref);
      }
      const byId = (await c.call({ dockerImageStatus: { name: pulled.id } })).dockerImageStatus!.image!;
      assert.ok(byId.tags.includes("mirror.gcr.io/library/busybox:latest"));
    });

    it("keeps a registry's repository-less names without `library/`", async () => {
      const c = await t().connect();
      const img = (await c.call({ pullDockerImage: { name: "registry.k8s.io/pause:3.7" } }, 120_000)).pullDockerImage!.image!;
      assert.ok(img.tags.includes("registry.k8s.io/pause:3.7"), img.tags.join(","));
      const st = (await c.call({ dockerImageStatus: { name: "registry.k8s.io/pause:3.7" } })).dockerImageStatus!.image!;
      assert.equal(st.id, img.id);
    });

    it("reports images it does not have as DockerImageNotFound", async () => {
      const c = await t().connect();
      assert.equal(await c.code({ dockerImageStatus: { name: "busybox:no-such-tag-for-contract" } }), EError.DockerImageNotFound);
      assert.equal(await c.code({ dockerImageStatus: { name: "example.invalid/nothing/here:1" } }), EError.DockerImageNotFound);
      assert.equal(await c.code({ removeDockerImage: { name: "busybox:no-such-tag-for-contract" } }), EError.DockerImageNotFound);
    });

    it("lists stored images with all their tags", async () => {
      const c = await t().connect();
      await c.call({ pullDockerImage: { name: "busybox:1.35" } }, 120_000);
      const all = (await c.call({ listDockerImages: {} })).listDockerImages!.images;
      const bb = all.find((i) => i.tags.includes("mirror.gcr.io/library/busybox:1.35"));
      assert.ok(bb, "busybox:1.35 is listed");
      assert.ok(bb.config, "config is present");
    });
  },
  { images: SEEDS },
);

contract(
  "docker image removal",
  (t) => {
    it("removes only the tag while other tags remain, and the image by id", async () => {
      const c = await t().connect();
      await c.call({ pullDockerImage: { name: "busybox" } });
      await c.call({ pullDockerImage: { name: "busybox:1.35" } });
      await c.call({ removeDockerImage: { name: "busybox:1.35" } });
      assert.equal(await c.code({ dockerImageStatus: { name: "busybox:1.35" } }), EError.DockerImageNotFound);
      const st = (await c.call({ dockerImageStatus: { name: "busybox" } })).dockerImageStatus!.image!;
      await c.call({ removeDockerImage: { name: st.id } });
      assert.equal(await c.code({ dockerImageStatus: { name: "busybox" } }), EError.DockerImageNotFound);
    });
  },
  { images: SEEDS, doubleOnly: "removing images would change the shared portod's store" },
);
