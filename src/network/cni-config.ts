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

export interface CniConfigFile {
  path: string;
  /** The network's name. */
  name: string;
  cniVersion: string;
  /** Plugin entries: `plugins` of a conflist, or the single plugin of a .conf. */
  plugins: Array<Record<string, unknown> & { type: string }>;
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
  const cniVersion = typeof obj.cniVersion === "string" ? obj.cniVersion : "0.4.0";
  let plugins: unknown[];
  if (path.endsWith(".conflist")) {
    if (!Array.isArray(obj.plugins) || obj.plugins.length === 0) throw new Error(`${path}: no plugins`);
    plugins = obj.plugins;
  } else {
    plugins = [obj];
  }
  for (const [i, p] of plugins.entries()) {
    if (typeof p !== "object" || p === null || typeof (p as { type?: unknown }).type !== "string") {
      throw new Error(`${path}: plugin ${i} has no type`);
    }
  }
  return { path, name, cniVersion, plugins: plugins as CniConfigFile["plugins"], raw: obj };
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
