/**
 * Container and label names as portod checks them (TContainer::ValidName,
 * TClient::ResolveName, TContainer::ValidLabel). The double serves one kind
 * of client: a host client with an empty porto namespace, which is what the
 * shim is.
 */
import { EError } from "../../gen/rpc_pb.js";
import { fail } from "./errors.js";

export const ROOT = "/";
export const CONTAINER_NAME_MAX = 128;
export const CONTAINER_PATH_MAX = 200;
export const CONTAINER_PATH_MAX_FOR_SUPERUSER = 220;
export const CONTAINER_LEVEL_MAX = 16;

export const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-@:.";

/** TContainer::ValidName. `superuser` (a root client) raises the path limit to 220. */
export function validName(name: string, superuser: boolean): void {
  if (name.length === 0) throw fail(EError.InvalidValue, "container path too short");
  const pathMax = superuser ? CONTAINER_PATH_MAX_FOR_SUPERUSER : CONTAINER_PATH_MAX;
  const bytes = Buffer.byteLength(name);
  if (bytes > pathMax) throw fail(EError.InvalidValue, `container path too long, limit is ${pathMax}`);
  if (name[0] === "/") {
    if (name === ROOT) return;
    throw fail(EError.InvalidValue, "container path starts with '/': " + name);
  }
  let first = 0;
  for (let i = 0; i <= name.length; i++) {
    const c = i < name.length ? name[i] : "\0";
    if (c === "/" || c === "\0") {
      if (i === first) throw fail(EError.InvalidValue, "double/trailing '/' in container path: " + name);
      const comp = name.slice(first, i);
      if (i - first > CONTAINER_NAME_MAX) {
        throw fail(
          EError.InvalidValue,
          `container name component too long, limit is ${CONTAINER_NAME_MAX}: '${comp}'`,
        );
      }
      if (comp === "self") throw fail(EError.InvalidValue, "container name 'self' is reserved");
      if (comp === ".") throw fail(EError.InvalidValue, "container name '.' is reserved");
      first = i + 1;
    } else if (!NAME_CHARS.includes(c)) {
      const code = Buffer.from(c)[0];
      throw fail(EError.InvalidValue, "forbidden character 0x" + code.toString(16));
    }
  }
}

/** TPath::NormalPath for relative container names: collapses `//`, `.` and `..`. */
export function normalPath(path: string): string {
  if (path === "") return "";
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const comp of path.split("/")) {
    if (comp === "" || comp === ".") continue;
    if (comp === ".." && out.length && out[out.length - 1] !== "..") {
      out.pop();
      continue;
    }
    if (comp === ".." && absolute) continue;
    out.push(comp);
  }
  const joined = (absolute ? "/" : "") + out.join("/");
  return joined === "" ? "." : joined;
}

/**
 * TClient::ResolveName for a host client: `/` is the root, `self` is the
 * client's container (the root for a host client), `.` the namespace parent
 * (also the root), `self/x` is `x`, `/porto/x` is `x`.
 */
export function resolveName(relative: string): string {
  let name: string;
  if (relative === ROOT || relative === "self" || relative === ".") name = ROOT;
  else if (relative.startsWith("self/")) name = relative.slice(5);
  else if (relative.startsWith("/porto/")) name = relative.slice(7);
  else name = relative;
  name = normalPath(name);
  if (name === ".") name = ROOT;
  return name;
}

export function parentName(name: string): string {
  const sep = name.lastIndexOf("/");
  return sep < 0 ? ROOT : name.slice(0, sep);
}

export const LABEL_NAME_MAX = 128;
export const LABEL_VALUE_MAX = 65536;
export const LABEL_COUNT_MAX = 100;
const LABEL_PREFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** TContainer::ValidLabel: `PREFIX.rest`, PREFIX 2-16 capitals not starting PORTO; name chars only. */
export function validLabel(label: string, value: string): void {
  if (Buffer.byteLength(label) > LABEL_NAME_MAX)
    throw fail(EError.InvalidLabel, `Label name too log, max ${LABEL_NAME_MAX} bytes`);
  if (Buffer.byteLength(value) > LABEL_VALUE_MAX)
    throw fail(EError.InvalidLabel, `Label value too log, max ${LABEL_VALUE_MAX} bytes`);
  const sep = label.indexOf(".");
  const prefixOk =
    sep >= 2 && sep <= 16 && [...label.slice(0, sep)].every((c) => LABEL_PREFIX_CHARS.includes(c));
  if (!prefixOk || ![...label].every((c) => NAME_CHARS.includes(c)) || label.startsWith("PORTO"))
    throw fail(EError.InvalidLabel, `Invalid label name: ${label}`);
  if (![...value].every((c) => NAME_CHARS.includes(c)))
    throw fail(EError.InvalidLabel, `Invalid label value: ${value}`);
}

/** True when a property name looks like a label: upper-case letters up to the first dot. */
export function isLabelName(property: string): boolean {
  const dot = property.indexOf(".");
  if (dot < 0) return false;
  return [...property.slice(0, dot)].every((c) => LABEL_PREFIX_CHARS.includes(c));
}
