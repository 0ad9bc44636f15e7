/**
 * Finding the node's CNI network configuration the way containerd does: the
 * first file in CNI.ConfDir, in lexical order, ending in .conflist, .conf or
 * .json that parses as a usable config. Network readiness follows its presence,
 * so a config that a network add-on installs after start-up (Calico and Cilium
 * do) makes the node ready without restarting portoshim.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export const CNI_EXTENSIONS = [".conflist", ".conf", ".json"];

/**
 * Spec versions whose configs we run. 0.1.0 and 0.2.0 results have another
 * shape (ip4/ip6 instead of ips), which nothing current emits any more.
 */
export const SUPPORTED_CNI_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/** Assumed when a file gives no cniVersion (the spec requires one; libcni would send "" and plugins read that as 0.1.0). */
export const DEFAULT_CNI_VERSION = "0.4.0";

/** One plugin entry of a network config list. */
export type CniPluginConfig = Record<string, unknown> & { type: string };

export interface CniConfigFile {
  path: string;
  /** The network's name. */
  name: string;
  cniVersion: string;
  /** Plugin entries: `plugins` of a conflist, or the single plugin of a .conf (libcni's ConfListFromConf). */
  plugins: CniPluginConfig[];
  /** The conflist's `disableCheck`: CHECK is then skipped, as libcni does. */
  disableCheck: boolean;
  /** The parsed file, as written. */
  raw: Record<string, unknown>;
}

export type CniLoadResult = { ok: true; config: CniConfigFile } | { ok: false; reason: string; message: string };

/** Parses one config file's text; throws with a message saying what is wrong. */
export function parseCniConfig(path: string, text: string): CniConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error(`${path}: not a JSON object`);
  const obj = raw as Record<string, unknown>;
  const name = obj.name;
  if (typeof name !== "string" || name === "") throw new Error(`${path}: no network name`);
  if (obj.cniVersion !== undefined && typeof obj.cniVersion !== "string") throw new Error(`${path}: cniVersion is not a string`);
  const cniVersion = obj.cniVersion ?? DEFAULT_CNI_VERSION;
  if (!SUPPORTED_CNI_VERSIONS.includes(cniVersion)) {
    throw new Error(`${path}: cniVersion ${JSON.stringify(cniVersion)} is not supported (supported: ${SUPPORTED_CNI_VERSIONS.join(", ")})`);
  }
  let plugins: unknown[];
  if (path.endsWith(".conflist")) {
    if (!Array.isArray(obj.plugins) || obj.plugins.length === 0) throw new Error(`${path}: no plugins`);
    plugins = obj.plugins;
  } else {
    plugins = [obj];
  }
  for (const [i, p] of plugins.entries()) {
    const type = typeof p === "object" && p !== null ? (p as { type?: unknown }).type : undefined;
    if (typeof type !== "string" || type === "") throw new Error(`${path}: plugin ${i} has no type`);
    // The type names an executable in BinDir; a path would run something else.
    if (type.includes("/") || type === "." || type === "..") throw new Error(`${path}: plugin ${i} has an invalid type ${JSON.stringify(type)}`);
  }
  const disableCheck = obj.disableCheck === true || obj.disableCheck === "true";
  return { path, name, cniVersion, plugins: plugins as CniPluginConfig[], disableCheck, raw: obj };
}

/** Orders dotted spec versions numerically ("0.10.0" after "0.4.0"). */
export function compareCniVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** CHECK, and the cached ADD result passed to DEL, came with spec 0.4.0. */
export function hasCheckAndCachedDel(cniVersion: string): boolean {
  return compareCniVersions(cniVersion, "0.4.0") >= 0;
}

/** Loads the config that defines the pod network, or says why there is none. */
export async function loadCniConfig(confDir: string): Promise<CniLoadResult> {
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (err) {
    return notReady(`cannot read CNI config directory ${confDir}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const candidates = names.filter((n) => CNI_EXTENSIONS.some((ext) => n.endsWith(ext))).sort();
  const problems: string[] = [];
  for (const n of candidates) {
    const path = join(confDir, n);
    try {
      return { ok: true, config: parseCniConfig(path, await readFile(path, "utf8")) };
    } catch (err) {
      // containerd skips unusable files and keeps looking; so do we, but say so.
      problems.push((err as Error).message);
    }
  }
  const why = problems.length ? `: ${problems.join("; ")}` : "";
  return notReady(`no usable network config found in ${confDir}${why}`);
}

function notReady(detail: string): CniLoadResult {
  return { ok: false, reason: "NetworkPluginNotReady", message: `Network plugin returns error: cni plugin not initialized (${detail})` };
}
