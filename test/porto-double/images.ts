/**
 * Docker image records (src/docker.cpp semantics without a registry). Tests
 * seed a catalogue of images at start; pullDockerImage copies a catalogue
 * entry into the store under portod's normalised name, and status, list and
 * remove work on the store. Names normalise like TDockerImage::ParseName:
 * short names and docker.io become mirror.gcr.io/library/..., the tag
 * defaults to latest, a bare hex string is an image id.
 *
 * Like portod, a pull fetches `/manifests/<tag>`, so a manifest digest given
 * as the tag (`repo:sha256:<hex>`) gets the seed with that `manifestDigest`
 * and keeps "sha256:<hex>" as its tag. Given a place, pulls write the image
 * directory portod writes, `<place>/porto_docker/v1/images/<id[0:2]>/<id>/`
 * with config.json (the config blob, whose sha256 is the id), manifest.json
 * and images.json, and removal deletes it.
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
  /** Entrypoint + Cmd merged, as Porto exposes them (default: from `config`, as portod's ParseConfig). */
  cmd?: string[];
  env?: string[];
  /** "sha256:<hex>" of the image's manifest: pulling `repo:<it>` gets this image (default: of `manifest`). */
  manifestDigest?: string;
  /** The manifest as the registry serves it, stored as manifest.json (default: one made up from the seed). */
  manifest?: string;
  /** The image config blob (OCI/Docker JSON) stored as config.json; the id defaults to its sha256. */
  config?: Record<string, unknown>;
  /** How long a pull of this image takes. */
  pullDelayMs?: number;
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
  /** config.json as written. */
  configJson: string;
  /** manifest.json as written, when the seed had one. */
  manifest?: string;
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

  /** `place`: the directory standing in for /place, where image directories are written; none when absent. */
  constructor(
    seeds: readonly ImageSeed[],
    readonly place?: string,
  ) {
    for (const s of seeds) this.addToCatalogue(s);
  }

  addToCatalogue(seed: ImageSeed): void {
    if (seed.manifest && !seed.manifestDigest) {
      seed = { ...seed, manifestDigest: `sha256:${createHash("sha256").update(seed.manifest).digest("hex")}` };
    }
    const r = parseImageName(seed.name);
    const full = r.defaultRepository && r.registry !== DOCKER_REGISTRY_HOST ? `${repoName(r, "")}:${r.tag}` : `${repoName(r)}:${r.tag}`;
    this.catalogue.set(full, seed);
  }

  /** PullDockerImage: a digest reference is fetched by its name as `latest`, as seen on portod 5.3.59. */
  async pull(ref: string): Promise<TDockerImage> {
    const r = parseImageName(ref);
    if (r.digest && !r.name) throw fail(EError.DockerImageNotFound, `${repoName(r)}:${r.tag}`);
    const names = candidates(r);
    const hit = names.map((n) => [n, this.catalogue.get(n) ?? this.byManifest(n, r.tag)] as const).find(([, s]) => s);
    if (!hit) throw fail(EError.Unknown, `Unknown error 404: HTTP request to https://${r.registry}/v2/.../manifests/${r.tag} failed: status 404`);
    const [full, seed] = hit as readonly [string, ImageSeed];
    if (seed.pullDelayMs) await new Promise((resolve) => setTimeout(resolve, seed.pullDelayMs));
    const configJson = seed.config ? JSON.stringify(seed.config) : defaultConfigJson(seed);
    const id = seed.id ?? (seed.config ? createHash("sha256").update(configJson).digest("hex") : createHash("sha256").update(full).digest("hex"));
    for (const img of this.store.values()) {
      const i = img.tags.indexOf(full);
      if (i >= 0 && img.id !== id) img.tags.splice(i, 1);
    }
    let img = this.store.get(id);
    if (!img) {
      img = {
        id,
        configJson,
        manifest: seed.manifest,
        tags: [],
        layers: seed.layers ?? [createHash("sha256").update("layer:" + full).digest("hex")],
        size: BigInt(seed.size ?? 1024),
        cmd: seed.cmd ?? (seed.config ? portoCommand(seed.config) : []),
        env: seed.env ?? (seed.config ? (configStrings(seed.config, "Env") ?? []) : []),
      };
      this.store.set(id, img);
    }
    if (!img.tags.includes(full)) img.tags.push(full);
    this.save(img);
    return toProto(img);
  }

  /** The seed of `repo:sha256:<hex>`: same repository, that manifest digest. */
  private byManifest(full: string, tag: string): ImageSeed | undefined {
    if (!tag.startsWith("sha256:")) return undefined;
    const repo = full.slice(0, full.length - tag.length - 1);
    for (const [name, seed] of this.catalogue) {
      if (seed.manifestDigest === tag && name.slice(0, name.lastIndexOf(":")) === repo) return seed;
    }
    return undefined;
  }

  private dir(id: string): string | undefined {
    return this.place ? join(this.place, "porto_docker", "v1", "images", id.slice(0, 2), id) : undefined;
  }

  /** TDockerImage::Save: the image directory with its config blob, manifest and names. */
  private save(img: StoredImage): void {
    const dir = this.dir(img.id);
    if (!dir) return;
    mkdirSync(join(dir, "layers"), { recursive: true });
    writeFileSync(join(dir, "config.json"), img.configJson);
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${img.id}`, size: img.configJson.length },
      layers: img.layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${l}`, size: Number(img.size) })),
    };
    writeFileSync(join(dir, "manifest.json"), img.manifest ?? JSON.stringify(manifest));
    const names: Record<string, string[]> = {};
    for (const t of img.tags) {
      const colon = t.indexOf(":", t.lastIndexOf("/"));
      (names[t.slice(0, colon)] ??= []).push(t.slice(colon + 1));
    }
    writeFileSync(join(dir, "images.json"), JSON.stringify(names));
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
    const dir = this.dir(img.id);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** A config blob for a seed without one: its merged command as Entrypoint gives back the same `cmd`. */
function defaultConfigJson(seed: ImageSeed): string {
  const config: Record<string, unknown> = {};
  if (seed.cmd?.length) config.Entrypoint = seed.cmd;
  if (seed.env?.length) config.Env = seed.env;
  return JSON.stringify({ architecture: "amd64", os: "linux", config });
}

function configStrings(blob: Record<string, unknown>, key: string): string[] | undefined {
  const c = blob.config as Record<string, unknown> | undefined;
  const v = c?.[key];
  return Array.isArray(v) ? v.map(String) : undefined;
}

/** TDockerImage::ParseConfig: Entrypoint + Cmd, or /bin/sh -c with Cmd joined (quoted with '). */
function portoCommand(blob: Record<string, unknown>): string[] {
  const entrypoint = configStrings(blob, "Entrypoint");
  const cmd = configStrings(blob, "Cmd");
  if (entrypoint) return [...entrypoint, ...(cmd ?? [])];
  const out = ["/bin/sh"];
  if (cmd) out.push("-c", cmd.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(" "));
  return out;
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
