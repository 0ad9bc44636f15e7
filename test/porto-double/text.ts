/**
 * Porto's text helpers (src/util/string.cpp in ten-nancy/porto), ported so the
 * double parses and prints property values byte for byte like portod. Each
 * function names its C++ original; quirks (trimming, dropped empty items,
 * backslash rules) are kept on purpose because clients see them.
 */
import { EError } from "../../gen/rpc_pb.js";
import { fail } from "./errors.js";

const TRIM_CHARS = " \t\n";

/** StringTrim: strips spaces, tabs and newlines (not \r) at both ends. */
export function trim(s: string, what = TRIM_CHARS): string {
  let a = 0;
  let b = s.length;
  while (a < b && what.includes(s[a])) a++;
  while (b > a && what.includes(s[b - 1])) b--;
  return s.slice(a, b);
}

/**
 * SplitEscapedString(str, inner, outer): items are trimmed, empty items are
 * dropped, `\\`, `\<inner>` and `\<outer>` unescape; any other backslash stays.
 */
export function splitEscaped2(str: string, inner: string, outer: string): string[][] {
  const tuples: string[][] = [[]];
  let cur = "";
  for (let i = 0; ; i++) {
    const c = i < str.length ? str[i] : undefined;
    if (c === undefined || c === inner || (outer !== "" && c === outer)) {
      const s = trim(cur);
      if (s.length) tuples[tuples.length - 1].push(s);
      cur = "";
      if (c === undefined) break;
      if (outer !== "" && c === outer && tuples[tuples.length - 1].length) tuples.push([]);
    } else if (
      c === "\\" &&
      i + 1 < str.length &&
      (str[i + 1] === "\\" || str[i + 1] === inner || (outer !== "" && str[i + 1] === outer))
    ) {
      cur += str[i + 1];
      i++;
    } else {
      cur += c;
    }
  }
  if (!tuples[tuples.length - 1].length) tuples.pop();
  return tuples;
}

/** SplitEscapedString(str, sep): one level. */
export function splitEscaped(str: string, sep: string): string[] {
  return splitEscaped2(str, sep, "")[0] ?? [];
}

/** MergeEscapeStrings(tuple, sep): escapes `\` and `sep`, joins with `sep` (no space). */
export function mergeEscaped(items: readonly string[], sep: string): string {
  return items.map((s) => s.replaceAll("\\", "\\\\").replaceAll(sep, "\\" + sep)).join(sep);
}

/** MergeEscapeStrings(tuples, inner, outer). */
export function mergeEscaped2(tuples: readonly (readonly string[])[], inner: string, outer: string): string {
  return tuples
    .filter((t) => t.length)
    .map((t) =>
      t
        .map((s) =>
          s
            .replaceAll("\\", "\\\\")
            .replaceAll(inner, "\\" + inner)
            .replaceAll(outer, "\\" + outer),
        )
        .join(inner),
    )
    .join(outer);
}

/** StringMapToString over a std::map: keys sorted bytewise, `k: v; k2: v2`. */
export function stringMapToString(map: ReadonlyMap<string, string>): string {
  return sortedKeys(map)
    .map((k) => `${k}: ${map.get(k)}`)
    .join("; ");
}

/** std::map iteration order: bytewise for the ASCII names Porto allows. */
export function sortedKeys(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** StringToStringMap: `k: v; ...`, each pair must split into exactly two non-empty items. */
export function stringToStringMap(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of splitEscaped(value, ";")) {
    const nv = splitEscaped(line, ":");
    if (nv.length !== 2) throw fail(EError.InvalidValue, "Invalid format");
    out.set(trim(nv[0]), trim(nv[1]));
  }
  return out;
}

const UINT64_MAX = 2n ** 64n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** strtoull/strtoll prefix: optional spaces, sign, digits. Returns the number and what follows. */
function strtoInt(str: string): { value: bigint; rest: string } | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(str);
  if (!m) return undefined;
  let v = BigInt(m[2]);
  if (m[1] === "-") v = -v;
  return { value: v, rest: str.slice(m[0].length) };
}

/** StringToUint64. */
export function parseUint64(str: string): bigint {
  const bad = () => fail(EError.InvalidValue, "Bad uint64 value: " + str);
  if (str.startsWith("-")) throw bad();
  const r = strtoInt(str);
  if (!r || r.value > UINT64_MAX || r.value < 0n || trim(r.rest, " \t\n\v\f\r") !== "") throw bad();
  return r.value;
}

/** StringToInt64. */
export function parseInt64(str: string): bigint {
  const r = strtoInt(str);
  const bad = () => fail(EError.InvalidValue, "Bad int64 value: " + str);
  if (!r || r.value > INT64_MAX || r.value < INT64_MIN || trim(r.rest, " \t\n\v\f\r") !== "") throw bad();
  return r.value;
}

/** StringToInt (32-bit). */
export function parseInt32(str: string): number {
  let v: bigint;
  try {
    v = parseInt64(str);
  } catch {
    throw fail(EError.InvalidValue, "Bad int value: " + str);
  }
  if (v < -(2n ** 31n) || v > 2n ** 31n - 1n) throw fail(EError.InvalidValue, "Bad int value: " + str);
  return Number(v);
}

/** StringToBool: only "true" and "false"; anything else is EError::Unknown like portod. */
export function parseBool(str: string): boolean {
  if (str === "true") return true;
  if (str === "false") return false;
  throw fail(EError.Unknown, "Bad boolean value: " + str);
}

export function formatBool(v: boolean): string {
  return v ? "true" : "false";
}

const SIZE_UNITS = "BKMGTPE";

/** StringToSize: `<number>[unit]` with B K M G T P E (also k, Kb, KiB); fractions allowed. */
export function parseSize(str: string): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(.*)$/s.exec(str);
  if (!m) throw fail(EError.InvalidValue, "Bad value: " + str);
  const unit = trim(m[2], " \t\n\v\f\r");
  let mult = 1n;
  if (unit.length) {
    const i = SIZE_UNITS.indexOf(unit[0].toUpperCase());
    const tail = unit.slice(1);
    const ok = i >= 0 && (tail === "" || (i > 0 && (tail === "b" || tail === "B" || tail === "iB")));
    if (!ok) throw fail(EError.InvalidValue, "Bad value unit: " + unit);
    mult = 1n << BigInt(10 * i);
  }
  const num = m[1];
  if (/^[+-]?\d+$/.test(num)) {
    if (num.startsWith("-")) throw fail(EError.InvalidValue, "Negative: " + str);
    const v = BigInt(num) * mult;
    if (v > UINT64_MAX) throw fail(EError.InvalidValue, "Too big: " + str);
    return v;
  }
  const d = Number(num);
  if (d < 0) throw fail(EError.InvalidValue, "Negative: " + str);
  const v = d * Number(mult);
  if (v > Number(UINT64_MAX)) throw fail(EError.InvalidValue, "Too big: " + str);
  return BigInt(Math.trunc(v));
}

/** Porto's CPU power unit: nanoseconds of CPU time per second, so 1 core = 1e9. */
export const CPU_POWER_PER_SEC = 1_000_000_000n;

/**
 * StringToCpuPower: `<N>c` cores (9 fractional digits kept), `<N>ns`, or a bare
 * number meaning percent of all cores.
 */
export function parseCpuPower(str: string, cores: number): bigint {
  const m = /^(.*?\d)(\D*)$/s.exec(str);
  const unit = m ? m[2] : str;
  const num = m ? m[1] : "";
  if (unit === "") return (fixedPoint(str, 2, str) * CPU_POWER_PER_SEC * BigInt(cores)) / 10000n;
  if (unit === "c") return fixedPoint(num, 9, str);
  if (unit === "ns") return parseUint64(num);
  throw fail(EError.InvalidValue, `Invalid cpu power unit in '${str}'`);
}

/** ParseFixedPoint: "1.5" with order 9 → 1500000000; extra digits are dropped. */
function fixedPoint(str: string, order: number, orig: string): bigint {
  const parts = str.split(".");
  const bad = () => fail(EError.InvalidValue, `Bad value: ${orig}`);
  if (parts.length > 2) throw bad();
  let value = 0n;
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i];
    if (i === 1) p = p.slice(0, order).padEnd(order, "0");
    let n: bigint;
    try {
      n = parseUint64(p);
    } catch {
      throw bad();
    }
    value += n;
    if (i === 0) value *= 10n ** BigInt(order);
  }
  return value;
}

/** CpuPowerToString: `2c`, `0.5c`, trailing zeros of the fraction removed. */
export function formatCpuPower(ns: bigint): string {
  const sec = ns / CPU_POWER_PER_SEC;
  const rem = ns % CPU_POWER_PER_SEC;
  if (rem === 0n) return `${sec}c`;
  return `${sec}.${rem.toString().padStart(9, "0").replace(/0+$/, "")}c`;
}

/** FormatTime(t, "%F %T") in the double's local time zone, as portod prints times. */
export function formatTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

/**
 * StringMatch(str, pattern): `***` matches everything, `prefix***` and
 * `***suffix` match by prefix/suffix, anything else is fnmatch(3) with
 * FNM_PATHNAME (portod's default), so `*` and `?` stop at `/`.
 */
export function stringMatch(str: string, pattern: string): boolean {
  if (pattern === "***") return true;
  if (pattern.endsWith("***")) return str.startsWith(pattern.slice(0, pattern.indexOf("***")));
  if (pattern.startsWith("***")) return str.endsWith(pattern.slice(3));
  return fnmatch(pattern, str, true);
}

/**
 * fnmatch(3): `*`, `?`, `[...]` with ranges and `!`/`^`, backslash escapes.
 * With `pathname` (FNM_PATHNAME) no wildcard matches `/`.
 */
export function fnmatch(pattern: string, str: string, pathname = false): boolean {
  return matchAt(pattern, 0, str, 0, pathname);
}

function matchAt(p: string, pi: number, s: string, si: number, pathname: boolean): boolean {
  while (pi < p.length) {
    const c = p[pi];
    if (c === "*") {
      while (p[pi] === "*") pi++;
      if (pi === p.length) return !pathname || !s.slice(si).includes("/");
      for (let k = si; k <= s.length; k++) {
        if (matchAt(p, pi, s, k, pathname)) return true;
        if (pathname && s[k] === "/") break;
      }
      return false;
    }
    if (si >= s.length) return false;
    if (pathname && s[si] === "/" && (c === "?" || c === "[")) return false;
    if (c === "?") {
      pi++;
      si++;
      continue;
    }
    if (c === "[") {
      const r = matchClass(p, pi, s[si]);
      if (r === undefined) {
        if (s[si] !== "[") return false;
        pi++;
        si++;
        continue;
      }
      if (!r.matched) return false;
      pi = r.next;
      si++;
      continue;
    }
    if (c === "\\" && pi + 1 < p.length) {
      if (p[pi + 1] !== s[si]) return false;
      pi += 2;
      si++;
      continue;
    }
    if (c !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

function matchClass(p: string, start: number, ch: string): { matched: boolean; next: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (p[i] === "!" || p[i] === "^") {
    negate = true;
    i++;
  }
  let matched = false;
  let first = true;
  while (i < p.length && (p[i] !== "]" || first)) {
    first = false;
    let lo = p[i];
    if (lo === "\\" && i + 1 < p.length) lo = p[++i];
    if (p[i + 1] === "-" && i + 2 < p.length && p[i + 2] !== "]") {
      let hi = p[i + 2];
      let adv = 3;
      if (hi === "\\" && i + 3 < p.length) {
        hi = p[i + 3];
        adv = 4;
      }
      if (ch >= lo && ch <= hi) matched = true;
      i += adv;
    } else {
      if (ch === lo) matched = true;
      i++;
    }
  }
  if (i >= p.length) return undefined;
  return { matched: matched !== negate, next: i + 1 };
}
