/**
 * CRI object ids: 64 hex digits, random, as containerd makes them. Every RPC
 * that takes an id also takes a unique prefix of one (crictl prints and passes
 * 13 characters); `resolveIdPrefix` decides which id a prefix means.
 */
import { randomBytes } from "node:crypto";

export const ID_LENGTH = 64;
const HEX = /^[0-9a-f]+$/;

export function newId(): string {
  return randomBytes(ID_LENGTH / 2).toString("hex");
}

export function isFullId(s: string): boolean {
  return s.length === ID_LENGTH && HEX.test(s);
}

export type PrefixMatch =
  | { kind: "found"; id: string }
  | { kind: "none" }
  | { kind: "ambiguous"; candidates: string[] }
  | { kind: "invalid"; reason: string };

/**
 * Finds the one id in `ids` that starts with `prefix`. An exact match wins
 * even if it is also the prefix of nothing else; an empty prefix is invalid.
 */
export function resolveIdPrefix(prefix: string, ids: Iterable<string>): PrefixMatch {
  if (prefix === "") return { kind: "invalid", reason: "empty id" };
  if (prefix.length > ID_LENGTH || !HEX.test(prefix)) return { kind: "none" };
  const candidates: string[] = [];
  for (const id of ids) {
    if (id === prefix) return { kind: "found", id };
    if (id.startsWith(prefix)) candidates.push(id);
  }
  if (candidates.length === 0) return { kind: "none" };
  if (candidates.length > 1) return { kind: "ambiguous", candidates };
  return { kind: "found", id: candidates[0] };
}
