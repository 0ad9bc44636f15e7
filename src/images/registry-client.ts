/**
 * Asks a registry what a reference means, before portod pulls it: the
 * manifest digest (CRI's repo digest, which portod never reports), the config
 * digest of the manifest portod will pick (portod's image id), the layers (for
 * progress) and the Authorization header that worked (for portod).
 *
 * It follows portod's choices (src/docker.cpp), so both sides agree on the
 * image: the same host (mirror.gcr.io for docker.io), the same repository
 * paths in the same order (`library/<name>` first, then `<name>`, after a
 * 404), the same Accept headers, and from an index the last entry for
 * linux/<this machine's architecture>.
 */
import { createHash } from "node:crypto";
import type { ImageReference } from "./reference.js";
import { portoRegistry, registryPaths } from "./reference.js";
import { authorizationFor, initialAuthorization, parseChallenges, RegistryAuthError } from "./registry-auth.js";
import type { Credentials } from "./registry-auth.js";
import { headerValue } from "./registry-http.js";
import type { HttpFetch, HttpResponse } from "./registry-http.js";

/** Accept headers portod sends for manifests, docker and OCI, single and lists. */
export const MANIFEST_ACCEPT = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
];

const INDEX_TYPES = new Set([
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
]);

/** One layer as the manifest lists it. */
export interface ManifestLayer {
  /** Hex digest, without "sha256:". */
  digest: string;
  size: number;
}

/** What the registry says a reference is. */
export interface ManifestResolution {
  /** "sha256:<hex>" of the manifest (or index) the reference names: CRI's repo digest. */
  manifestDigest: string;
  /** "sha256:<hex>" of the config of the manifest portod picks: its image id. Absent for schema 1. */
  configDigest?: string;
  layers: ManifestLayer[];
  /** The repository path that answered. */
  path: string;
  /** The Authorization header the registry accepted, if it wanted one. */
  authorization?: string;
}

/** The registry answered something other than the manifest. `status` 0: no answer. */
export class RegistryError extends Error {
  override name = "RegistryError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The manifest the registry served does not have the digest that was asked for. */
export class DigestMismatchError extends Error {
  override name = "DigestMismatchError";
}

export interface ResolveOptions {
  http: HttpFetch;
  credentials: Credentials;
  /** URL scheme for a registry host: https, as portod uses, unless told otherwise (tests). */
  scheme?: (host: string) => "https" | "http";
  /** GOARCH-style architecture portod picks from an index; default: this machine's. */
  architecture?: string;
  signal?: AbortSignal;
}

/** GOARCH of this machine, as portod's getDefaultTargetArch (amd64 unless arm64). */
export function defaultArchitecture(): string {
  return process.arch === "arm64" ? "arm64" : "amd64";
}

/**
 * Fetches the manifest `ref` names from the registry portod will use.
 * @throws RegistryError (404 when no candidate path has it), RegistryAuthError,
 *   DigestMismatchError for a digest reference served with other content.
 */
export async function resolveManifest(ref: ImageReference, options: ResolveOptions): Promise<ManifestResolution> {
  const host = portoRegistry(ref);
  const base = `${(options.scheme ?? (() => "https"))(host)}://${host}`;
  const paths = registryPaths(ref);
  const scopes = paths.map((p) => `repository:${p}:pull`);
  let authorization = initialAuthorization(options.credentials);
  const reference = ref.digest ?? ref.tag!;
  const named = (path: string) => `${host}/${path}${ref.digest ? "@" : ":"}${reference}`;

  const get = async (path: string, what: string): Promise<HttpResponse> => {
    const url = `${base}/v2/${path}/manifests/${what}`;
    const send = async () => {
      const headers: Record<string, string | string[]> = { accept: MANIFEST_ACCEPT.join(", ") };
      if (authorization !== undefined) headers.authorization = authorization;
      try {
        return await options.http(url, { method: "GET", headers, signal: options.signal });
      } catch (err) {
        throw new RegistryError(`registry ${host} cannot be reached: ${(err as Error).message}`, 0);
      }
    };
    let res = await send();
    if (res.status === 401) {
      const challenges = parseChallenges(headerValue(res.headers, "www-authenticate") ?? "");
      const next = await authorizationFor(options.http, options.credentials, challenges, scopes, options.signal);
      if (next !== undefined && next !== authorization) {
        authorization = next;
        res = await send();
      }
    }
    return res;
  };

  let found: { path: string; res: HttpResponse } | undefined;
  for (const path of paths) {
    const res = await get(path, reference);
    if (res.status === 404) continue;
    if (res.status === 401 || res.status === 403) {
      throw new RegistryAuthError(`registry ${host} refused access to ${path} (${res.status})`, res.status);
    }
    if (res.status !== 200) throw new RegistryError(`registry ${host} answered ${res.status} for ${named(path)}`, res.status);
    found = { path, res };
    break;
  }
  if (!found) throw new RegistryError(`${named(ref.path)} not found in the registry`, 404);

  const manifestDigest = sha256(found.res.body);
  if (ref.digest !== undefined && manifestDigest !== ref.digest) {
    throw new DigestMismatchError(`registry ${host} served ${found.path}@${ref.digest} with content of digest ${manifestDigest}`);
  }
  let body = parseJson(found.res.body, host);
  if (isIndex(body, found.res)) {
    const arch = options.architecture ?? defaultArchitecture();
    const entry = pickPlatform(body, arch);
    if (!entry) throw new RegistryError(`${named(found.path)} has no manifest for linux/${arch}`, 404);
    const res = await get(found.path, entry);
    if (res.status !== 200) throw new RegistryError(`registry ${host} answered ${res.status} for ${found.path}@${entry}`, res.status);
    if (sha256(res.body) !== entry) throw new DigestMismatchError(`registry ${host} served ${found.path}@${entry} with other content`);
    body = parseJson(res.body, host);
  }
  const { configDigest, layers } = readManifest(body);
  return { manifestDigest, configDigest, layers, path: found.path, authorization };
}

function sha256(body: Buffer): string {
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}

type Json = Record<string, unknown>;

function parseJson(body: Buffer, host: string): Json {
  try {
    const v = JSON.parse(body.toString("utf8")) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Json;
  } catch {
    // fall through
  }
  throw new RegistryError(`registry ${host} served a manifest that is not JSON`, 200);
}

function isIndex(body: Json, res: HttpResponse): boolean {
  const type = typeof body.mediaType === "string" ? body.mediaType : (headerValue(res.headers, "content-type") ?? "").split(";")[0]!.trim();
  return INDEX_TYPES.has(type) || (type === "" && Array.isArray(body.manifests));
}

/** portod walks every entry and keeps the last linux/<arch> one. */
export function pickPlatform(index: Json, arch: string): string | undefined {
  let digest: string | undefined;
  for (const m of Array.isArray(index.manifests) ? (index.manifests as Json[]) : []) {
    const p = m.platform as Json | undefined;
    if (p && p.architecture === arch && p.os === "linux" && typeof m.digest === "string") digest = m.digest;
  }
  return digest;
}

/** Config digest and layers of a schema 2 (docker or OCI) manifest; schema 1 has neither config nor sizes. */
export function readManifest(body: Json): { configDigest?: string; layers: ManifestLayer[] } {
  if (body.schemaVersion === 1) {
    const fsLayers = Array.isArray(body.fsLayers) ? (body.fsLayers as Json[]) : [];
    return { layers: fsLayers.map((l) => ({ digest: hexOf(String(l.blobSum)), size: 0 })) };
  }
  const config = body.config as Json | undefined;
  const configDigest = typeof config?.digest === "string" ? config.digest : undefined;
  const layers = (Array.isArray(body.layers) ? (body.layers as Json[]) : []).map((l) => ({
    digest: hexOf(String(l.digest)),
    size: typeof l.size === "number" ? l.size : 0,
  }));
  return { configDigest, layers };
}

function hexOf(digest: string): string {
  return digest.startsWith("sha256:") ? digest.slice("sha256:".length) : digest;
}
