/**
 * Image references: normalised the way containerd and kubelet do it
 * (distribution/reference's ParseDockerRef), and translated to and from the
 * names portod stores images under. Pure: no I/O.
 *
 * CRI spelling (what users and kubelet see):
 *   busybox                          -> docker.io/library/busybox:latest
 *   registry.k8s.io/pause            -> registry.k8s.io/pause:latest
 *   localhost:5000/a/b:1             -> localhost:5000/a/b:1
 *   repo:tag@sha256:<hex>            -> repo@sha256:<hex> (the digest wins, as in containerd)
 *
 * Porto spelling (what portod 5.3 stores and lists, src/docker.hpp ParseName):
 * - portod rewrites docker.io to its own default registry, mirror.gcr.io, so
 *   docker.io/library/busybox:latest is stored as
 *   mirror.gcr.io/library/busybox:latest. We translate back to docker.io,
 *   unless the user asked for mirror.gcr.io by name (the image records keep that).
 * - portod pulls `repo@sha256:<hex>` as `repo:latest`, silently. It fetches
 *   `/v2/<repo>/manifests/<tag>` though, and a manifest digest is a valid
 *   <reference> there, so we ask for `repo:sha256:<hex>`: portod then fetches
 *   exactly that manifest and keeps "sha256:<hex>" as the tag. Such a
 *   "digest tag" is how a digest reference lives in Porto; it is reported as a
 *   repo digest, never as a repo tag (seen on portod 5.3.59).
 */

/** The registry that portod uses for docker.io and short names. */
export const PORTO_DOCKER_REGISTRY = "mirror.gcr.io";
/** Docker Hub as references spell it. */
export const DOCKER_HUB = "docker.io";
/** Other names of Docker Hub that mean the same registry. */
const DOCKER_HUB_ALIASES = ["docker.io", "index.docker.io", "registry-1.docker.io"];

const NAME_TOTAL_LENGTH_MAX = 255;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX64 = /^[a-f0-9]{64}$/;

/** A normalised reference: always a domain and a path, and either a tag or a digest. */
export interface ImageReference {
  /** Registry host[:port], "docker.io" for Docker Hub. */
  readonly domain: string;
  /** Repository path inside the registry, "library/busybox" for official images. */
  readonly path: string;
  /** Tag, "latest" when neither tag nor digest was given; absent for digest references. */
  readonly tag?: string;
  /** "sha256:<64 hex>"; absent for tag references. */
  readonly digest?: string;
}

/** A reference that is not a valid image name. */
export class InvalidReferenceError extends Error {
  override name = "InvalidReferenceError";
}

/** True for an image id: "sha256:<64 hex>" or the 64 hex digits alone. */
export function isImageId(text: string): boolean {
  return SHA256_DIGEST.test(text) || HEX64.test(text);
}

/** The 64 hex digits of an image id given either way. */
export function idHex(id: string): string {
  return id.startsWith("sha256:") ? id.slice("sha256:".length) : id;
}

/**
 * Parses and normalises a reference as containerd's ParseDockerRef does.
 * @throws InvalidReferenceError with a reason a user can act on.
 */
export function parseReference(text: string): ImageReference {
  if (text === "") throw new InvalidReferenceError("empty image reference");
  if (text !== text.trim() || /\s/.test(text)) throw new InvalidReferenceError(`invalid reference format: ${JSON.stringify(text)}`);
  if (HEX64.test(text)) {
    throw new InvalidReferenceError("invalid repository name: 64-byte hexadecimal strings are image ids, not names");
  }
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!ANY_DIGEST.test(digest)) throw new InvalidReferenceError(`invalid digest ${JSON.stringify(digest)}`);
    if (!digest.startsWith("sha256:")) throw new InvalidReferenceError(`unsupported digest algorithm in ${JSON.stringify(digest)}`);
    if (!SHA256_DIGEST.test(digest)) throw new InvalidReferenceError(`invalid sha256 digest ${JSON.stringify(digest)}`);
  }
  // A tag follows the last ":" that comes after the last "/" (a ":" before it is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(`invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest.length > NAME_TOTAL_LENGTH_MAX) {
    throw new InvalidReferenceError(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  let [domain, path] = splitDomain(rest);
  if (!DOMAIN.test(domain)) throw new InvalidReferenceError(`invalid registry ${JSON.stringify(domain)}`);
  if (path === "") throw new InvalidReferenceError(`invalid reference format: ${JSON.stringify(text)}`);
  for (const part of path.split("/")) {
    if (PATH_COMPONENT.test(part)) continue;
    if (PATH_COMPONENT.test(part.toLowerCase())) throw new InvalidReferenceError(`repository name must be lowercase: ${JSON.stringify(text)}`);
    throw new InvalidReferenceError(`invalid repository name ${JSON.stringify(path)}`);
  }
  if (domain === "index.docker.io") domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  // Tagged and digested: only the digest identifies the content (ParseDockerRef).
  if (digest !== undefined) return { domain, path, digest };
  return { domain, path, tag: tag ?? "latest" };
}

/** distribution's splitDockerDomain: the first component is a registry only if it looks like a host. */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf("/");
  if (slash < 0) return [DOCKER_HUB, name];
  const first = name.slice(0, slash);
  if (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first) return [DOCKER_HUB, name];
  return [first, name.slice(slash + 1)];
}

/**
 * The repository `text` names when it gives neither tag nor digest ("busybox",
 * "r.io:5000/app"), else undefined (also for text that does not parse).
 * `crictl images busybox` means every busybox image, not busybox:latest.
 */
export function bareRepository(text: string): string | undefined {
  if (text.includes("@") || text.lastIndexOf(":") > text.lastIndexOf("/")) return undefined;
  try {
    return repositoryOf(parseReference(text));
  } catch {
    return undefined;
  }
}

/** "docker.io/library/busybox": the repository, without tag or digest. */
export function repositoryOf(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised form: "docker.io/library/busybox:latest" or "repo@sha256:...". */
export function formatReference(ref: ImageReference): string {
  return ref.digest !== undefined ? `${repositoryOf(ref)}@${ref.digest}` : `${repositoryOf(ref)}:${ref.tag}`;
}

/** Normalises a reference string; throws InvalidReferenceError. */
export function normalizeReference(text: string): string {
  return formatReference(parseReference(text));
}

/** The registry host portod contacts for this reference (docker.io becomes mirror.gcr.io). */
export function portoRegistry(ref: ImageReference): string {
  return ref.domain === DOCKER_HUB ? PORTO_DOCKER_REGISTRY : ref.domain;
}

/**
 * The name to hand portod: its registry spelling, and a digest as a "digest
 * tag" (`repo:sha256:<hex>`) so that portod fetches that very manifest.
 */
export function portoImageName(ref: ImageReference): string {
  const repo = `${portoRegistry(ref)}/${ref.path}`;
  return ref.digest !== undefined ? `${repo}:${ref.digest}` : `${repo}:${ref.tag}`;
}

/**
 * Repository paths portod tries, in its order: a repository that is just
 * "library" (given or defaulted) is retried without it after a 404, so
 * `registry.k8s.io/pause` is fetched from `library/pause`, then `pause`.
 */
export function registryPaths(ref: ImageReference): string[] {
  if (!ref.path.includes("/")) return [`library/${ref.path}`, ref.path];
  const parts = ref.path.split("/");
  if (parts.length === 2 && parts[0] === "library") return [ref.path, parts[1]];
  return [ref.path];
}

/** What one name portod lists an image under means in CRI terms. */
export type PortoName =
  | { kind: "tag"; reference: string; repository: string }
  | { kind: "digest"; reference: string; repository: string };

/**
 * Reads a name from portod's `tags` ("registry/repo:tag", or our
 * "registry/repo:sha256:<hex>" digest tags) into CRI spelling, mapping
 * mirror.gcr.io back to docker.io. Undefined for names that do not parse.
 */
export function fromPortoName(name: string): PortoName | undefined {
  const m = /^(.*):(sha256:[a-f0-9]{64})$/.exec(name);
  const text = m ? `${m[1]}@${m[2]}` : name;
  let ref: ImageReference;
  try {
    ref = parseReference(text);
  } catch {
    return undefined;
  }
  if (ref.domain === PORTO_DOCKER_REGISTRY) ref = parseReference(`${DOCKER_HUB}/${ref.path}${ref.digest ? "@" + ref.digest : ":" + ref.tag}`);
  const reference = formatReference(ref);
  return { kind: ref.digest !== undefined ? "digest" : "tag", reference, repository: repositoryOf(ref) };
}

/** True when `host` (as written in config or an AuthConfig) names the registry `domain`. */
export function sameRegistry(host: string, domain: string): boolean {
  const h = host.toLowerCase();
  const d = domain.toLowerCase();
  if (h === d) return true;
  return DOCKER_HUB_ALIASES.includes(h) && DOCKER_HUB_ALIASES.includes(d);
}
