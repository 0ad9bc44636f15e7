/**
 * What an image says about running it: the OCI image config fields a
 * container's process is built from. Porto's image API gives only Cmd
 * (merged with Entrypoint) and Env, so src/images reads these from the
 * config.json portod stores and hands them to the mapping in this shape.
 */

/** Strings exactly as in the OCI image config; empty strings and lists when unset. */
export interface ImageRuntimeConfig {
  entrypoint: string[];
  cmd: string[];
  /** "NAME=value" each, in image order. */
  env: string[];
  workingDir: string;
  /** "user", "uid", "user:group" or "uid:gid"; "" for the default (root). */
  user: string;
  /** "SIGTERM", "TERM", "15", ...; "" when the image names none. */
  stopSignal: string;
}

/** An image that sets nothing (e.g. `FROM scratch` with ADD only). */
export function emptyImageRuntime(): ImageRuntimeConfig {
  return { entrypoint: [], cmd: [], env: [], workingDir: "", user: "", stopSignal: "" };
}
