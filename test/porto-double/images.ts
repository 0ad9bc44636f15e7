/**
 * Docker image records (src/docker.cpp semantics without a registry). Tests
 * seed a catalogue of images at start; pullDockerImage copies a catalogue
 * entry into the store under portod's normalised name, and status, list and
 * remove work on the store. Names normalise like TDockerImage::ParseName:
 * short names and docker.io become mirror.gcr.io/library/..., the tag
 * defaults to latest, a bare hex string is an image id.
 */
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { EError, TDockerImageConfigSchema, TDockerImageSchema, type TDockerImage } from "../../gen/rpc_pb.js";
import { fail } from "./errors.js";
import { stringMatch } from "./text.js";

/** An image a test makes pullable. `name` is any reference portod would accept. */
export interface ImageSeed {
  name: string;
  /** Config digest, hex without `sha256:` (default: derived from the name). */
  id?: string;
  layers?: string[];
  size?: number;
  /** Entrypoint + Cmd merged, as Porto exposes them. */
  cmd?: string[];
  env?: string[];
}

export const DOCKER_REGISTRY_HOST = "mirror.gcr.io";

export interface ImageRef {
  registry: string;
  repository: string;
  name: string;
  tag: string;
  digest: string;
  /** The repository was not given, so portod also tries the empty one. */
  defaultRepository: boolean;
}

/** TDockerImage constructor + ParseName. */
export function parseImageName(ref: string): ImageRef {
  const r: ImageRef = {
    registry: DOCKER_REGISTRY_HOST,
    repository: "library",
    name: "",
    tag: "latest",
    digest: "",
    defaultRepository: true,
  };
  if (ref.length && /^[0-9a-fA-F]+$/.test(ref)) {
    r.digest = ref;
    return r;
  }
  let image = ref;
  const regiPos = image.indexOf("/");
  const registry = regiPos >= 0 ? image.slice(0, regiPos) : image;
  if (regiPos >= 0 && (/[.:]/.test(registry) || registry === "localhost")) {
    r.registry = registry;
    image = image.slice(regiPos + 1);
  }
  const repoPos = image.lastIndexOf("/");
  if (repoPos >= 0) {
    r.repository = image.slice(0, repoPos);
    r.defaultRepository = false;
    image = image.slice(repoPos + 1);
  }
  const digestPos = image.lastIndexOf("@");
  if (digestPos >= 0) {
    r.digest = image.slice(digestPos + 1).replace(/^sha256:/, "");
    image = image.slice(0, digestPos);
  }
  const tagPos = image.indexOf(":");
  if (tagPos >= 0) {
    r.name = image.slice(0, tagPos);
    r.tag = image.slice(tagPos + 1);
  } else r.name = image;
  if (r.registry === "docker.io") r.registry = DOCKER_REGISTRY_HOST;
  return r;
}

/** `registry/repository/name` (TDockerImage::FullName(true)). */
function repoName(r: ImageRef, repository = r.repository): string {
  return `${r.registry}/${repository ? repository + "/" : ""}${r.name}`;
}

/** Full names portod would look the reference up under, most likely first. */
function candidates(r: ImageRef): string[] {
  const out = [`${repoName(r)}:${r.tag}`];
  if (r.defaultRepository && r.registry !== DOCKER_REGISTRY_HOST) out.push(`${repoName(r, "")}:${r.tag}`);
  return out;
}

interface StoredImage {
  id: string;
  tags: string[];
  layers: string[];
  size: bigint;
  cmd: string[];
  env: string[];
}

export class Images {
  /** Catalogue: full tagged name → seed. */
  private readonly catalogue = new Map<string, ImageSeed>();
  /** Pulled images by id. */
  readonly store = new Map<string, StoredImage>();

  constructor(seeds: readonly ImageSeed[]) {
    for (const s of seeds) this.addToCatalogue(s);
  }

  addToCatalogue(seed: ImageSeed): void {
    const r = parseImageName(seed.name);
    const full = r.defaultRepository && r.registry !== DOCKER_REGISTRY_HOST ? `${repoName(r, "")}:${r.tag}` : `${repoName(r)}:${r.tag}`;
    this.catalogue.set(full, seed);
  }

  /** PullDockerImage: a digest reference is fetched by its name as `latest`, as seen on portod 5.3.59. */
  pull(ref: string): TDockerImage {
    const r = parseImageName(ref);
    if (r.digest && !r.name) throw fail(EError.DockerImageNotFound, `${repoName(r)}:${r.tag}`);
    const names = candidates(r);
    const hit = names.map((n) => [n, this.catalogue.get(n)] as const).find(([, s]) => s);
    if (!hit) throw fail(EError.DockerImageNotFound, names[0]);
    const [full, seed] = hit as readonly [string, ImageSeed];
    const id = seed.id ?? createHash("sha256").update(full).digest("hex");
    for (const img of this.store.values()) {
      const i = img.tags.indexOf(full);
      if (i >= 0 && img.id !== id) img.tags.splice(i, 1);
    }
    let img = this.store.get(id);
    if (!img) {
      img = {
        id,
        tags: [],
        layers: seed.layers ?? [createHash("sha256").update("layer:" + full).digest("hex")],
        size: BigInt(seed.size ?? 1024),
        cmd: seed.cmd ?? [],
        env: seed.env ?? [],
      };
      this.store.set(id, img);
    }
    if (!img.tags.includes(full)) img.tags.push(full);
    return toProto(img);
  }

  private lookup(ref: string): { img: StoredImage; tag?: string } {
    const r = parseImageName(ref);
    if (r.digest && !r.name) {
      const img = this.store.get(r.digest);
      if (img) return { img };
      throw fail(EError.DockerImageNotFound, `${repoName(r)}:${r.tag}`);
    }
    for (const full of candidates(r)) {
      for (const img of this.store.values()) if (img.tags.includes(full)) return { img, tag: full };
    }
    throw fail(EError.DockerImageNotFound, candidates(r)[0]);
  }

  status(ref: string): TDockerImage {
    return toProto(this.lookup(ref).img);
  }

  list(mask: string): TDockerImage[] {
    return [...this.store.values()]
      .filter((img) => !mask || img.tags.some((t) => stringMatch(t, mask)))
      .map(toProto);
  }

  /** RemoveDockerImage: by tag removes only that tag while others remain; by id removes the image. */
  remove(ref: string): void {
    const { img, tag } = this.lookup(ref);
    if (tag && img.tags.length > 1) {
      img.tags.splice(img.tags.indexOf(tag), 1);
      return;
    }
    this.store.delete(img.id);
  }
}

function toProto(img: StoredImage): TDockerImage {
  return create(TDockerImageSchema, {
    id: img.id,
    tags: [...img.tags],
    digests: ["sha256:" + img.id],
    layers: [...img.layers],
    size: img.size,
    config: create(TDockerImageConfigSchema, { cmd: [...img.cmd], env: [...img.env] }),
  });
}
