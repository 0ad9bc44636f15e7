/**
 * Contracts the shim's image code relies on: a manifest digest given as the
 * tag makes portod fetch that very manifest (how digest pulls are done),
 * where portod keeps the image config blob, and how a registry 404 comes back.
 *
 * Against a real portod these pull one lab image (LAB_DIR, default
 * /root/portoshim-lab/state, must hold the lab's images/images.json), and
 * remove only the digest tag they added.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import type { Target } from "./targets.js";
import type { ImageSeed } from "../../porto-double/index.js";

interface LabImage {
  /** A tag reference portod can pull. */
  ref: string;
  /** "sha256:<hex>" of its manifest. */
  manifest: string;
  /** "sha256:<hex>" of its config: portod's image id. */
  config: string;
}

const LAB_IMAGES = join(process.env.LAB_DIR ?? "/root/portoshim-lab/state", "images", "images.json");

function labImage(): LabImage | undefined {
  try {
    const all = JSON.parse(readFileSync(LAB_IMAGES, "utf8")) as Array<{ key: string; refs: string[]; manifest: string; config: string }>;
    const e = all.find((i) => i.key === "test-image-2");
    return e ? { ref: e.refs[0]!, manifest: e.manifest, config: e.config } : undefined;
  } catch {
    return undefined;
  }
}

const sha256 = (b: string | Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const CONFIG = { architecture: "amd64", os: "linux", config: { Cmd: ["sh"], Env: ["PATH=/bin"], User: "1002", WorkingDir: "/w" } };
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(JSON.stringify(CONFIG)), size: 1 },
  layers: [],
});
const SEEDED: LabImage = {
  ref: "gcr.io/k8s-staging-cri-tools/test-image-2:latest",
  manifest: sha256(MANIFEST),
  config: sha256(JSON.stringify(CONFIG)),
};
const SEEDS: ImageSeed[] = [{ name: SEEDED.ref, manifest: MANIFEST, config: CONFIG }];

const lab = labImage();

function image(t: Target): LabImage {
  return t.kind === "portod" ? lab! : SEEDED;
}

function place(t: Target): string {
  return t.kind === "portod" ? "/place" : t.double!.state.images.place!;
}

/** "gcr.io/x/y:latest" → "gcr.io/x/y". */
function repo(ref: string): string {
  return ref.slice(0, ref.lastIndexOf(":"));
}

contract(
  "docker image digests and configs",
  (t) => {
    it("a manifest digest given as the tag fetches that manifest and is kept as the tag", async () => {
      const c = await t().connect();
      const want = image(t());
      const name = `${repo(want.ref)}:${want.manifest}`;
      const pulled = (await c.call({ pullDockerImage: { name } }, 120_000)).pullDockerImage!.image!;
      try {
        assert.equal(`sha256:${pulled.id}`, want.config);
        assert.ok(pulled.tags.includes(name), pulled.tags.join(","));
        const st = (await c.call({ dockerImageStatus: { name } })).dockerImageStatus!.image!;
        assert.equal(st.id, pulled.id);
      } finally {
        await c.code({ removeDockerImage: { name } });
      }
    });

    it("keeps the config blob in <place>/porto_docker/v1/images/<id[0:2]>/<id>/config.json (its sha256 the id) and the manifest beside it (its sha256 the manifest digest)", async () => {
      const c = await t().connect();
      const want = image(t());
      const img = (await c.call({ pullDockerImage: { name: want.ref } }, 120_000)).pullDockerImage!.image!;
      const file = join(place(t()), "porto_docker", "v1", "images", img.id.slice(0, 2), img.id, "config.json");
      const blob = readFileSync(file);
      assert.equal(sha256(blob), want.config);
      const parsed = JSON.parse(blob.toString("utf8")) as { config?: Record<string, unknown> };
      assert.ok(parsed.config, "the config object is there");
      assert.equal(sha256(readFileSync(join(file, "..", "manifest.json"))), want.manifest);
    });

    it("answers a pull the registry has no manifest for with Unknown and the HTTP status in the message", async () => {
      const c = await t().connect();
      const rsp = await c.raw({ pullDockerImage: { name: `${repo(image(t()).ref)}-no-such-image:1` } }, 120_000);
      assert.equal(rsp.error, EError.Unknown);
      assert.match(rsp.errorMsg, /status 404/);
    });
  },
  { images: SEEDS, doubleOnly: lab ? undefined : `no lab images at ${LAB_IMAGES}: nothing portod could pull` },
);
