/**
 * Images as CRI sees them, kept by portod's docker image store and completed
 * with what portod cannot keep (image-records.ts). The ImageService handlers
 * and the container lifecycle both go through here.
 *
 * API (for the container lifecycle too):
 * - `resolve(refOrId)` → {@link ResolvedImage} | undefined: the image an
 *   ImageSpec names, by id ("sha256:<hex>", the hex alone, or a unique hex
 *   prefix), tag or digest reference, in any spelling that normalises to the
 *   same reference. Its `id` is what PullImage returned and what
 *   ContainerStatus.image_id must report; `config` is the full image config
 *   (entrypoint, cmd, env, workingDir, user, stopSignal, exposedPorts, labels).
 * - `readImageConfig(refOrId)` → ImageConfig | undefined: the config alone.
 * - `ensure(ref)`: the image, pulled first with the configured credentials if
 *   missing: how RunPodSandbox gets the pause image on first use.
 * - `portoImage(resolved)`: the name to give portod for a volume's `image`
 *   (the id: it cannot move to another image the way a tag can).
 * - `pull`, `list`, `remove`: the ImageService's work.
 *
 * Errors are ConnectErrors with deliberate codes: InvalidArgument for a bad
 * reference or credentials, NotFound when the registry has no such image,
 * Unauthenticated / PermissionDenied when it refuses, FailedPrecondition for
 * an image in use or a digest the registry does not honour,
 * DeadlineExceeded when a pull outlives Images.PullTimeout.
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { AuthConfig } from "../../gen/runtime/v1/api_pb.js";
import { EError } from "../../gen/rpc_pb.js";
import type { TDockerImage } from "../../gen/rpc_pb.js";
import type { RegistryConfig } from "../config.js";
import { resolveIdPrefix } from "../mapping/ids.js";
import { grpcCodeOf, isPortoError } from "../porto/index.js";
import type { PortoClient } from "../porto/index.js";
import { configFromPorto, readStoredConfig, readStoredManifestDigest } from "./image-config.js";
import type { ImageConfig } from "./image-config.js";
import { prune, withPull } from "./image-records.js";
import type { ImageRecord, ImageRecords } from "./image-records.js";
import { PullCoordinator } from "./pull-coordinator.js";
import {
  formatReference,
  fromPortoName,
  idHex,
  InvalidReferenceError,
  isImageId,
  parseReference,
  portoImageName,
  portoRegistry,
  registryPaths,
  repositoryOf,
} from "./reference.js";
import type { ImageReference } from "./reference.js";
import {
  describeCredentials,
  InvalidCredentialsError,
  portoPullAuth,
  RegistryAuthError,
  scrubSecrets,
  secretsOf,
  selectCredentials,
} from "./registry-auth.js";
import type { Credentials } from "./registry-auth.js";
import { DigestMismatchError, RegistryError, resolveManifest } from "./registry-client.js";
import type { ManifestResolution } from "./registry-client.js";
import { httpFetch } from "./registry-http.js";
import type { HttpFetch } from "./registry-http.js";

/** The portod calls images need. */
export type ImagePorto = Pick<PortoClient, "pullDockerImage" | "listDockerImages" | "dockerImageStatus" | "removeDockerImage" | "getVolume">;

export interface ImageStoreOptions {
  porto: ImagePorto;
  /** Porto.ImagesDir: portod's store, `<place>/porto_docker`. */
  imagesDir: string;
  records: ImageRecords;
  /** Images.Registries. */
  registries: readonly RegistryConfig[];
  /** Images.PauseImage: reported pinned. */
  pauseImage: string;
  /** Images.PullTimeout in ms: the deadline of one portod pull. */
  pullTimeoutMs: number;
  logger: Logger;
  /** How the shim talks to registries itself (default: node:https with the host's CAs). */
  http?: HttpFetch;
  /** Scheme per registry host; portod uses https, so do we (tests use http). */
  registryScheme?: (host: string) => "https" | "http";
  /** How often a running pull logs its progress; default 10 s. */
  progressIntervalMs?: number;
}

/** An image with everything CRI reports about it. */
export interface ResolvedImage {
  /** "sha256:<hex>": portod's image id (the config digest). */
  id: string;
  /** CRI spelling, sorted. */
  repoTags: string[];
  /** "repo@sha256:<manifest digest>", sorted. */
  repoDigests: string[];
  size: bigint;
  /** Layer digests (hex), as portod lists them. */
  layers: string[];
  config: ImageConfig;
  /** The config blob as stored, when portod kept one. */
  rawConfig?: Record<string, unknown>;
  /** The pause image: kubelet's GC leaves it alone. */
  pinned: boolean;
  /** Names portod lists it under. */
  portoNames: string[];
}

/** What portod keeps beside an image that its API does not give. */
interface StoredFiles {
  config: ImageConfig;
  raw?: Record<string, unknown>;
  /** sha256 of the stored manifest.json. */
  manifestDigest?: string;
}

/** A place's docker store is `<place>/porto_docker`; portod's default place is /place. */
const DEFAULT_PLACE = "/place";

export class ImageStore {
  private readonly pulls = new PullCoordinator<ResolvedImage>();
  /** What portod stored beside each image (immutable per id). */
  private readonly stored = new Map<string, StoredFiles>();
  private readonly http: HttpFetch;
  private readonly log: Logger;
  /** The `place` for portod requests; undefined for the default place. */
  readonly place: string | undefined;

  constructor(private readonly o: ImageStoreOptions) {
    this.http = o.http ?? httpFetch;
    this.log = o.logger.child({ component: "images" });
    const place = basename(o.imagesDir) === "porto_docker" ? dirname(o.imagesDir) : undefined;
    this.place = place === DEFAULT_PLACE ? undefined : place;
  }

  /** Every image portod has, with records of vanished images dropped. */
  async list(): Promise<ResolvedImage[]> {
    const images = await this.o.porto.listDockerImages({ place: this.place });
    const ids = new Set(images.map((i) => i.id));
    for (const id of [...this.o.records.ids()]) {
      if (!ids.has(id)) await this.dropRecord(id, "portod no longer has the image");
    }
    for (const img of images) await this.tidyRecord(img);
    return Promise.all(images.map((i) => this.toResolved(i)));
  }

  /**
   * The image `refOrId` names, or undefined when portod does not have it.
   * @throws ConnectError InvalidArgument for a reference that does not parse or an ambiguous id prefix.
   */
  async resolve(refOrId: string): Promise<ResolvedImage | undefined> {
    const img = await this.find(refOrId);
    return img ? this.toResolved(img) : undefined;
  }

  /** The image config of `refOrId`, or undefined when there is no such image. */
  async readImageConfig(refOrId: string): Promise<ImageConfig | undefined> {
    return (await this.resolve(refOrId))?.config;
  }

  /** What to name the image in portod requests (a volume's `image`): its id, which no later pull can move. */
  portoImage(image: ResolvedImage): string {
    return idHex(image.id);
  }

  /** The image, pulled with the configured credentials when portod lacks it (the pause image on first use). */
  async ensure(ref: string, signal?: AbortSignal): Promise<ResolvedImage> {
    return (await this.resolve(ref)) ?? this.pull(ref, undefined, signal);
  }

  /**
   * Pulls `ref` into portod's store and returns it. Concurrent pulls of one
   * reference with the same credentials share one portod pull; `signal` ends
   * only this caller's wait.
   */
  async pull(refText: string, auth: AuthConfig | undefined, signal?: AbortSignal): Promise<ResolvedImage> {
    const ref = this.parse(refText);
    let credentials: Credentials;
    try {
      credentials = selectCredentials(auth, ref.domain, portoRegistry(ref), this.o.registries);
    } catch (err) {
      if (err instanceof InvalidCredentialsError) throw new ConnectError(`invalid auth config: ${err.message}`, Code.InvalidArgument);
      throw err;
    }
    // The credentials are part of the key (as a hash kept in memory only): a
    // pull must not succeed or fail on someone else's credentials.
    const key = `${formatReference(ref)}\n${createHash("sha256").update(JSON.stringify(credentials)).digest("hex")}`;
    return this.pulls.run(key, () => this.pullOnce(ref, credentials), signal);
  }

  /**
   * Removes the image `refOrId` names, all its names with it (CRI's RemoveImage
   * semantics). Absent images are fine.
   * @throws ConnectError FailedPrecondition when a container's volume uses it.
   */
  async remove(refOrId: string): Promise<boolean> {
    const img = await this.find(refOrId);
    if (!img) return false;
    const users = await this.usersOf(img);
    if (users.length > 0) {
      throw new ConnectError(
        `image sha256:${img.id} is in use by ${users.length === 1 ? "a container" : `${users.length} containers`} (volume ${users.join(", ")}); remove the container first`,
        Code.FailedPrecondition,
      );
    }
    try {
      await this.o.porto.removeDockerImage(img.id, { place: this.place });
    } catch (err) {
      if (!isPortoError(err, EError.DockerImageNotFound)) throw err;
    }
    await this.dropRecord(img.id, "image removed");
    this.stored.delete(img.id);
    this.log.info({ image: `sha256:${img.id}`, names: img.tags }, "image removed");
    return true;
  }

  // ---- internals

  private parse(text: string): ImageReference {
    try {
      return parseReference(text);
    } catch (err) {
      if (err instanceof InvalidReferenceError) throw new ConnectError(err.message, Code.InvalidArgument);
      throw err;
    }
  }

  /** portod's record of the image `refOrId` names. */
  private async find(refOrId: string): Promise<TDockerImage | undefined> {
    if (refOrId === "") throw new ConnectError("no image given", Code.InvalidArgument);
    if (isImageId(refOrId)) return this.byId(idHex(refOrId));
    // "sha256:<hex>" would parse as a name with tag <hex>; it is an id prefix.
    if (/^sha256:[a-f0-9]+$/.test(refOrId)) return this.byIdPrefix(idHex(refOrId));
    let ref: ImageReference | undefined;
    try {
      ref = parseReference(refOrId);
    } catch (err) {
      if (!(err instanceof InvalidReferenceError)) throw err;
      if (/^[a-f0-9]+$/.test(refOrId)) return this.byIdPrefix(refOrId);
      throw new ConnectError(err.message, Code.InvalidArgument);
    }
    const byName = await this.byPortoName(portoImageName(ref));
    if (byName) return byName;
    if (ref.digest !== undefined) {
      // A digest learnt at a tag pull: the records know it.
      const digest = formatReference(ref);
      for (const id of [...this.o.records.ids()]) {
        if (this.o.records.get(id)?.digests.includes(digest)) {
          const img = await this.byId(id);
          if (img) return img;
        }
      }
      return this.byStoredDigest(ref);
    }
    // crictl passes the short ids it prints; such text also parses as a name.
    if (/^[a-f0-9]+$/.test(refOrId)) return this.byIdPrefix(refOrId);
    return undefined;
  }

  private async byPortoName(name: string): Promise<TDockerImage | undefined> {
    try {
      return await this.o.porto.dockerImageStatus(name, { place: this.place });
    } catch (err) {
      if (isPortoError(err, EError.DockerImageNotFound)) return undefined;
      throw err;
    }
  }

  private async byId(hex: string): Promise<TDockerImage | undefined> {
    const img = await this.byPortoName(hex);
    if (img && img.id !== hex) return undefined; // portod matched a prefix; we asked for a whole id
    if (!img && this.o.records.has(hex)) await this.dropRecord(hex, "portod no longer has the image");
    return img;
  }

  private async byIdPrefix(prefix: string): Promise<TDockerImage | undefined> {
    const images = await this.o.porto.listDockerImages({ place: this.place });
    const match = resolveIdPrefix(prefix, images.map((i) => i.id));
    if (match.kind === "ambiguous") {
      throw new ConnectError(`image id prefix ${prefix} is ambiguous (${match.candidates.length} images)`, Code.InvalidArgument);
    }
    return match.kind === "found" ? images.find((i) => i.id === match.id) : undefined;
  }

  /** An image of the reference's repository whose stored manifest has the reference's digest (pulled before records, or by others). */
  private async byStoredDigest(ref: ImageReference): Promise<TDockerImage | undefined> {
    const repository = repositoryOf(ref);
    for (const img of await this.o.porto.listDockerImages({ place: this.place })) {
      if (!img.tags.some((t) => fromPortoName(t)?.repository === repository)) continue;
      if ((await this.storedFiles(img)).manifestDigest === ref.digest) return img;
    }
    return undefined;
  }

  private async toResolved(img: TDockerImage): Promise<ResolvedImage> {
    const record = this.o.records.get(img.id);
    const tags = new Set<string>();
    const digests = new Set<string>(record?.digests ?? []);
    for (const name of img.tags) {
      const cri = fromPortoName(name);
      if (!cri) continue;
      const asked = record?.names[name];
      for (const n of asked && asked.length > 0 ? asked : [cri.reference]) (cri.kind === "tag" ? tags : digests).add(n);
    }
    const { config, raw, manifestDigest } = await this.storedFiles(img);
    // Repositories the records know no digest for get the stored manifest's: a
    // true repo digest (the platform manifest's, for a multi-platform image).
    if (manifestDigest !== undefined) {
      for (const t of tags) {
        const repository = fromPortoName(t)?.repository;
        if (repository && ![...digests].some((d) => d.startsWith(`${repository}@`))) digests.add(`${repository}@${manifestDigest}`);
      }
    }
    const repoTags = [...tags].sort();
    const repoDigests = [...digests].sort();
    return {
      id: `sha256:${img.id}`,
      repoTags,
      repoDigests,
      size: img.size ?? 0n,
      layers: [...img.layers],
      config,
      rawConfig: raw,
      pinned: this.isPause(repoTags, repoDigests),
      portoNames: [...img.tags].sort(),
    };
  }

  private isPause(tags: string[], digests: string[]): boolean {
    let pause: string;
    try {
      pause = formatReference(parseReference(this.o.pauseImage));
    } catch {
      return false;
    }
    return tags.includes(pause) || digests.includes(pause);
  }

  /**
   * The stored config and manifest digest (cached: they never change for an
   * id), or what portod's API says when the config file is missing.
   */
  private async storedFiles(img: TDockerImage): Promise<StoredFiles> {
    const cached = this.stored.get(img.id);
    if (cached) return cached;
    let files: StoredFiles | undefined;
    try {
      const config = await readStoredConfig(this.o.imagesDir, img.id);
      if (config) files = { ...config, manifestDigest: await readStoredManifestDigest(this.o.imagesDir, img.id) };
    } catch (err) {
      this.log.warn({ image: `sha256:${img.id}`, err: (err as Error).message }, "cannot read the stored image config");
    }
    if (!files) return { config: configFromPorto(img.config?.cmd ?? [], img.config?.env ?? []) };
    this.stored.set(img.id, files);
    return files;
  }

  /** Forgets names portod no longer lists for the image (removed by someone else, or moved to another image). */
  private async tidyRecord(img: TDockerImage): Promise<void> {
    const record = this.o.records.get(img.id);
    if (!record) return;
    const kept = prune(record, img.tags);
    if (kept && Object.keys(kept.names).length === Object.keys(record.names).length) return;
    try {
      if (kept) await this.o.records.put(img.id, kept);
      else await this.o.records.delete(img.id);
    } catch (err) {
      this.log.warn({ image: `sha256:${img.id}`, err: (err as Error).message }, "cannot update an image record");
    }
  }

  private async dropRecord(id: string, why: string): Promise<void> {
    if (!this.o.records.has(id)) return;
    try {
      await this.o.records.delete(id);
      this.log.debug({ image: `sha256:${id}`, why }, "image record dropped");
    } catch (err) {
      this.log.warn({ image: `sha256:${id}`, err: (err as Error).message }, "cannot drop an image record");
    }
  }

  /** Paths of volumes that use layers only this image has, or name the image. */
  private async usersOf(img: TDockerImage): Promise<string[]> {
    const [volumes, images] = await Promise.all([
      this.o.porto.getVolume([]),
      this.o.porto.listDockerImages({ place: this.place }),
    ]);
    // portod keeps a layer that another image has too (src/docker.cpp RemoveLayers),
    // so a volume on shared layers survives the removal; only this image's own layers matter.
    const shared = new Set(images.filter((i) => i.id !== img.id).flatMap((i) => i.layers));
    const own = new Set(img.layers.filter((l) => !shared.has(l)));
    const names = new Set([img.id, `sha256:${img.id}`, ...img.tags]);
    return volumes
      .filter((v) => (v.image !== undefined && v.image !== "" && names.has(v.image)) || v.layers.some((l) => own.has(basename(l))))
      .map((v) => v.path ?? "?");
  }

  private async pullOnce(ref: ImageReference, credentials: Credentials): Promise<ResolvedImage> {
    const image = formatReference(ref);
    const portoName = portoImageName(ref);
    const started = Date.now();
    this.log.info({ image, porto: portoName, credentials: describeCredentials(credentials) }, "pulling image");

    const resolution = await this.resolveInRegistry(ref, credentials);
    let sent;
    try {
      sent = portoPullAuth(credentials, resolution?.authorization);
    } catch (err) {
      if (err instanceof RegistryAuthError) throw new ConnectError(`cannot pull ${image}: ${err.message}`, Code.Unavailable);
      throw err;
    }
    const secrets = secretsOf(credentials, sent);

    const progress = this.progressLogger(image, started, resolution);
    let img: TDockerImage;
    try {
      img = await this.o.porto.pullDockerImage(
        { name: portoName, place: this.place, ...sent },
        { timeoutMs: this.o.pullTimeoutMs },
      );
    } catch (err) {
      throw this.pullError(image, err, secrets);
    } finally {
      clearInterval(progress);
    }

    const id = `sha256:${img.id}`;
    let digest: string | undefined;
    if (resolution?.configDigest !== undefined && resolution.configDigest !== id) {
      // The tag moved between our look and portod's: we don't know which manifest portod got.
      this.log.warn({ image, id, registry: resolution.configDigest }, "the registry changed the image while it was pulled; its repo digest is not recorded");
    } else if (resolution) {
      digest = `${repositoryOf(ref)}@${resolution.manifestDigest}`;
    }
    const stored = storedName(ref, img.tags, resolution);
    try {
      const record = withPull(this.o.records.get(img.id), stored, image, ref.digest === undefined ? digest : undefined);
      if (record !== this.o.records.get(img.id)) await this.o.records.put(img.id, record);
    } catch (err) {
      this.log.warn({ image, err: (err as Error).message }, "cannot record the pulled image's names; they show in portod's spelling");
    }
    this.log.info({ image, id, size: Number(img.size ?? 0n), seconds: (Date.now() - started) / 1000 }, "image pulled");
    return this.toResolved(img);
  }

  /**
   * Asks the registry what portod is about to fetch. Failures that decide
   * the pull (not found, refused, a digest the registry does not honour)
   * end it here with a clear error; a registry we cannot reach is left for
   * portod to try (it may reach what we cannot), without a repo digest.
   */
  private async resolveInRegistry(ref: ImageReference, credentials: Credentials): Promise<ManifestResolution | undefined> {
    const image = formatReference(ref);
    try {
      return await resolveManifest(ref, {
        http: this.http,
        credentials,
        scheme: this.o.registryScheme,
      });
    } catch (err) {
      if (err instanceof DigestMismatchError) throw new ConnectError(`cannot pull ${image}: ${err.message}`, Code.FailedPrecondition);
      const status = err instanceof RegistryError || err instanceof RegistryAuthError ? err.status : -1;
      if (status === 404) throw new ConnectError(`cannot pull ${image}: ${(err as Error).message}`, Code.NotFound);
      if (status === 401) throw new ConnectError(`cannot pull ${image}: ${(err as Error).message}`, Code.Unauthenticated);
      if (status === 403) throw new ConnectError(`cannot pull ${image}: ${(err as Error).message}`, Code.PermissionDenied);
      if (status === -1) throw err;
      this.log.warn({ image, err: (err as Error).message }, "cannot ask the registry about the image; leaving it to portod");
      return undefined;
    }
  }

  /** Logs, at info, how far a pull has come: layer archives portod has written so far. */
  private progressLogger(image: string, started: number, resolution: ManifestResolution | undefined): NodeJS.Timeout {
    const layers = resolution?.layers ?? [];
    const total = layers.reduce((n, l) => n + l.size, 0);
    const timer = setInterval(() => {
      void (async () => {
        let bytes = 0;
        let done = 0;
        for (const l of layers) {
          const archive = join(this.o.imagesDir, "v1", "layers", "blobs", l.digest.slice(0, 2), l.digest, `${l.digest}.tar.gz`);
          const size = await stat(archive).then((s) => s.size, () => 0);
          bytes += Math.min(size, l.size || size);
          if (l.size > 0 && size >= l.size) done++;
        }
        this.log.info(
          { image, seconds: Math.round((Date.now() - started) / 1000), layers: `${done}/${layers.length}`, bytes, totalBytes: total },
          "pulling image: in progress",
        );
      })();
    }, this.o.progressIntervalMs ?? 10_000);
    timer.unref();
    return timer;
  }

  /** A portod pull failure as a ConnectError with its code, secrets scrubbed from portod's message. */
  private pullError(image: string, err: unknown, secrets: string[]): ConnectError {
    if (!isPortoError(err)) return ConnectError.from(err, Code.Internal);
    const message = scrubSecrets(err.portoMessage, secrets);
    if (err.code === EError.SocketTimeout) {
      return new ConnectError(
        `cannot pull ${image}: portod did not finish within Images.PullTimeout (${Math.round(this.o.pullTimeoutMs / 1000)}s)`,
        Code.DeadlineExceeded,
      );
    }
    // portod reports registry answers as Unknown with the HTTP status in the text.
    const status = /status (\d{3})/.exec(message)?.[1];
    const code =
      status === "404" ? Code.NotFound : status === "401" ? Code.Unauthenticated : status === "403" ? Code.PermissionDenied : grpcCodeOf(err.code);
    return new ConnectError(`cannot pull ${image}: ${err.codeName}: ${message}`, code);
  }
}

/**
 * The name portod keeps the pull under: its registry, the repository path
 * that answered (portod falls back from library/<name> to <name> as we do),
 * and the tag or digest tag.
 */
function storedName(ref: ImageReference, tags: readonly string[], resolution: ManifestResolution | undefined): string {
  const what = ref.digest ?? ref.tag!;
  const candidates = (resolution ? [resolution.path] : registryPaths(ref)).map((p) => `${portoRegistry(ref)}/${p}:${what}`);
  return candidates.find((c) => tags.includes(c)) ?? candidates.find(() => true) ?? portoImageName(ref);
}

export type { ImageRecord };
