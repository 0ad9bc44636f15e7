/**
 * The image config (OCI image-spec "config", Docker's container config) as
 * portod stored it. portod's API exposes only `cmd` (Entrypoint and Cmd
 * merged, or `/bin/sh -c` around Cmd) and `env`; everything else a container
 * needs (WORKDIR, USER, StopSignal, Entrypoint and Cmd apart, ports, labels)
 * is only in the config blob portod keeps next to the image:
 *
 *   <Porto.ImagesDir>/v1/images/<id[0:2]>/<id>/config.json
 *
 * (src/docker.cpp TDockerImage::Save; seen on portod 5.3.59 with ImagesDir
 * /place/porto_docker). The file is the blob as downloaded, so its sha256 is
 * the image id. Schema 1 images have the v1Compatibility JSON there instead,
 * which carries the same `config` object.
 *
 * manifest.json beside it is the image manifest as downloaded too (for a
 * multi-platform image, the platform's manifest, not the index), so its
 * sha256 is a manifest digest the image can be pulled by.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** The parts of an image config the shim uses. Empty strings and lists mean "not set". */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  /** "NAME=value" each. */
  env: string[];
  workingDir: string;
  /** "user", "uid", "user:group" or "uid:gid"; "" for the runtime's default (root). */
  user: string;
  /** "SIGTERM", "15", ...; "" when the image names none. */
  stopSignal: string;
  /** "80/tcp", "53/udp", ... */
  exposedPorts: string[];
  labels: Record<string, string>;
  /** Paths the image declares as volumes. */
  volumes: string[];
}

/** The stored config file of image `idHex` (64 hex digits) under `imagesDir`. */
export function imageConfigPath(imagesDir: string, idHex: string): string {
  return join(imagesDir, "v1", "images", idHex.slice(0, 2), idHex, "config.json");
}

/** Parses a config blob; unknown or mistyped fields are treated as unset. */
export function parseImageConfig(text: string): { config: ImageConfig; raw: Record<string, unknown> } {
  const raw = JSON.parse(text) as unknown;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error("image config is not a JSON object");
  const obj = raw as Record<string, unknown>;
  // OCI and Docker use "config"; old Docker configs may only have "container_config".
  const c = (isObject(obj.config) ? obj.config : isObject(obj.container_config) ? obj.container_config : {}) as Record<string, unknown>;
  return {
    raw: obj,
    config: {
      entrypoint: strings(c.Entrypoint),
      cmd: strings(c.Cmd),
      env: strings(c.Env),
      workingDir: typeof c.WorkingDir === "string" ? c.WorkingDir : "",
      user: typeof c.User === "string" ? c.User : "",
      stopSignal: typeof c.StopSignal === "string" ? c.StopSignal : "",
      exposedPorts: isObject(c.ExposedPorts) ? Object.keys(c.ExposedPorts) : [],
      labels: isObject(c.Labels)
        ? Object.fromEntries(Object.entries(c.Labels).filter((e): e is [string, string] => typeof e[1] === "string"))
        : {},
      volumes: isObject(c.Volumes) ? Object.keys(c.Volumes) : [],
    },
  };
}

/** Reads and parses the stored config; undefined when portod keeps none for that id. */
export async function readStoredConfig(
  imagesDir: string,
  idHex: string,
): Promise<{ config: ImageConfig; raw: Record<string, unknown> } | undefined> {
  let text: string;
  try {
    text = await readFile(imageConfigPath(imagesDir, idHex), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return parseImageConfig(text);
}

/**
 * "sha256:<hex>" of the stored manifest.json, when portod kept a schema 2
 * manifest (schema 1 manifests are signed, and their digest is not the
 * file's); undefined otherwise.
 */
export async function readStoredManifestDigest(imagesDir: string, idHex: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(imagesDir, "v1", "images", idHex.slice(0, 2), idHex, "manifest.json"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    if ((JSON.parse(bytes.toString("utf8")) as { schemaVersion?: unknown }).schemaVersion !== 2) return undefined;
  } catch {
    return undefined;
  }
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * A config from what portod's API reports, when the file is missing: `cmd`
 * stays merged (portod has already put Entrypoint in front), so it is
 * returned as the entrypoint, and nothing else is known.
 */
export function configFromPorto(cmd: readonly string[], env: readonly string[]): ImageConfig {
  return { entrypoint: [...cmd], cmd: [], env: [...env], workingDir: "", user: "", stopSignal: "", exposedPorts: [], labels: {}, volumes: [] };
}

/**
 * CRI's split of USER (containerd's getUserFromImage): a numeric user part
 * is a uid, anything else a name; the group is not reported.
 */
export function imageUser(user: string): { uid?: bigint; username: string } {
  if (user === "") return { username: "" };
  const name = user.split(":")[0]!;
  if (/^[0-9]+$/.test(name)) {
    const uid = BigInt(name);
    if (uid <= 0x7fffffffffffffffn) return { uid, username: "" };
  }
  return { username: name };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}
