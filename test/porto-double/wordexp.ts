/**
 * How portod turns the `command` property into argv: glibc wordexp(3) with
 * WRDE_NOCMD | WRDE_UNDEF, run in the container's environment (src/task.cpp,
 * TTaskEnv::ChildExec). There is no shell: `;`, `|`, `&&`, redirections and
 * command substitution are refused, `$VAR` must be defined, quotes and
 * backslashes work as in sh, and unquoted `* ? [` expand against the file
 * system (no match keeps the word). Every refusal becomes EError::InvalidCommand.
 *
 * `command_argv` bypasses all of this; portod executes it verbatim.
 */
import { readdirSync, statSync } from "node:fs";
import { EError } from "../../gen/rpc_pb.js";
import { fail } from "./errors.js";
import { fnmatch } from "./text.js";

const BADCHARS = "\n|&;<>(){}";

class Syntax extends Error {}

/** Splits `command` as portod does; throws PortoError(InvalidCommand) on what wordexp refuses. */
export function wordexp(command: string, env: ReadonlyMap<string, string>): string[] {
  try {
    return expand(command, env);
  } catch (e) {
    if (e instanceof WordexpError) throw fail(EError.InvalidCommand, e.message);
    if (e instanceof Syntax) throw fail(EError.InvalidCommand, "wordexp(): syntax error");
    throw e;
  }
}

class WordexpError extends Error {}

const BADCHAR_MSG = "wordexp(): illegal occurrence of newline or one of |, &, ;, <, >, (, ), {, }";

interface Word {
  text: string;
  /** The same text with quoted characters backslash-escaped, for globbing. */
  pattern: string;
  glob: boolean;
  /** A quote pair was seen, so even an empty word counts. */
  present: boolean;
}

function expand(s: string, env: ReadonlyMap<string, string>): string[] {
  const words: string[] = [];
  let w: Word = newWord();
  const ifs = env.get("IFS") ?? " \t\n";

  const finish = () => {
    if (w.text.length || w.present) {
      if (w.glob) words.push(...glob(w.pattern, w.text));
      else words.push(w.text);
    }
    w = newWord();
  };
  const addQuoted = (t: string) => {
    w.text += t;
    w.pattern += t.replace(/[\\*?[]/g, "\\$&");
    w.present = true;
  };
  const addUnquoted = (t: string) => {
    w.text += t;
    w.pattern += t;
  };

  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "\\") {
      if (i + 1 >= s.length) throw new Syntax();
      addQuoted(s[i + 1]);
      i += 2;
    } else if (c === "$") {
      const r = dollar(s, i, env, false);
      i = r.next;
      if (r.literal) {
        addUnquoted(r.value);
      } else {
        // Unquoted expansion undergoes field splitting on IFS.
        const fields = splitFields(r.value, ifs);
        if (fields.leadingSep) finish();
        fields.parts.forEach((f, k) => {
          if (k > 0) finish();
          addQuoted(f);
          w.present = false;
        });
        if (fields.trailingSep && fields.parts.length) finish();
      }
    } else if (c === "`") {
      throw new WordexpError("wordexp(): command substitution is not supported");
    } else if (c === '"') {
      i = doubleQuoted(s, i + 1, env, addQuoted);
      w.present = true;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Syntax();
      addQuoted(s.slice(i + 1, end));
      i = end + 1;
    } else if (c === "~" && w.text.length === 0 && !w.present) {
      const m = /^~([A-Za-z0-9_.-]*)(?=\/|$|[ \t])/.exec(s.slice(i));
      if (m && m[1] === "") {
        addQuoted(env.get("HOME") ?? "~");
        i += 1;
      } else {
        addUnquoted("~");
        i++;
      }
    } else if (c === "*" || c === "?" || c === "[") {
      addUnquoted(c);
      w.glob = true;
      i++;
    } else if (c === " " || c === "\t") {
      finish();
      i++;
    } else if (BADCHARS.includes(c)) {
      throw new WordexpError(BADCHAR_MSG);
    } else {
      addUnquoted(c);
      i++;
    }
  }
  finish();
  return words;
}

function newWord(): Word {
  return { text: "", pattern: "", glob: false, present: false };
}

function splitFields(v: string, ifs: string): { parts: string[]; leadingSep: boolean; trailingSep: boolean } {
  const parts: string[] = [];
  let cur = "";
  for (const ch of v) {
    if (ifs.includes(ch)) {
      if (cur.length) parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.length) parts.push(cur);
  return {
    parts,
    leadingSep: v.length > 0 && ifs.includes(v[0]),
    trailingSep: v.length > 0 && ifs.includes(v[v.length - 1]),
  };
}

function doubleQuoted(s: string, i: number, env: ReadonlyMap<string, string>, add: (t: string) => void): number {
  while (i < s.length) {
    const c = s[i];
    if (c === '"') return i + 1;
    if (c === "\\") {
      const n = s[i + 1];
      if (n === undefined) throw new Syntax();
      if ("$`\"\\\n".includes(n)) {
        if (n !== "\n") add(n);
        i += 2;
      } else {
        add("\\");
        i++;
      }
    } else if (c === "$") {
      const r = dollar(s, i, env, true);
      add(r.value);
      i = r.next;
    } else if (c === "`") {
      throw new WordexpError("wordexp(): command substitution is not supported");
    } else {
      add(c);
      i++;
    }
  }
  throw new Syntax();
}

/** `$NAME`, `${NAME}`, `${NAME:-word}`, `$$`; `$(` is command substitution; a lone `$` stays. */
function dollar(
  s: string,
  i: number,
  env: ReadonlyMap<string, string>,
  quoted: boolean,
): { value: string; next: number; literal: boolean } {
  const n = s[i + 1];
  if (n === "(") {
    if (s[i + 2] === "(") {
      const end = s.indexOf("))", i + 3);
      if (end < 0) throw new Syntax();
      return { value: arithmetic(s.slice(i + 3, end), env), next: end + 2, literal: false };
    }
    throw new WordexpError("wordexp(): command substitution is not supported");
  }
  if (n === "{") {
    const end = s.indexOf("}", i + 2);
    if (end < 0) throw new Syntax();
    const body = s.slice(i + 2, end);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=+?])(.*))?$/s.exec(body);
    if (!m) throw new Syntax();
    const val = env.get(m[1]);
    const op = m[2];
    if (op === undefined) return { value: lookup(m[1], val), next: end + 1, literal: false };
    const unsetOrNull = op.startsWith(":") ? val === undefined || val === "" : val === undefined;
    const word = m[3] ?? "";
    switch (op.replace(":", "")) {
      case "-":
        return { value: unsetOrNull ? word : (val as string), next: end + 1, literal: false };
      case "+":
        return { value: unsetOrNull ? "" : word, next: end + 1, literal: false };
      default:
        return { value: lookup(m[1], unsetOrNull ? undefined : val), next: end + 1, literal: false };
    }
  }
  if (n === "$") return { value: String(process.pid), next: i + 2, literal: false };
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
  if (m) return { value: lookup(m[0], env.get(m[0])), next: i + 1 + m[0].length, literal: false };
  void quoted;
  return { value: "$", next: i + 1, literal: true };
}

function lookup(name: string, value: string | undefined): string {
  if (value === undefined) throw new WordexpError("wordexp(): undefined shell variable was referenced");
  void name;
  return value;
}

/** `$((...))` with integers, variables and + - * / %; enough for what a command line might carry. */
function arithmetic(expr: string, env: ReadonlyMap<string, string>): string {
  const replaced = expr.replace(/\$?([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    const v = env.get(name);
    if (v === undefined) throw new WordexpError("wordexp(): undefined shell variable was referenced");
    return String(Number.parseInt(v, 10) || 0);
  });
  if (!/^[\d\s+\-*/%()]*$/.test(replaced)) throw new Syntax();
  const v = Function(`"use strict"; return (${replaced || "0"});`)() as number;
  return String(Math.trunc(v));
}

/** glob(3) with GLOB_NOCHECK: expands a word with wildcards, or keeps it if nothing matches. */
function glob(pattern: string, literal: string): string[] {
  const absolute = pattern.startsWith("/");
  const parts = pattern.split("/").filter((p) => p.length);
  let paths = [absolute ? "/" : ""];
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k];
    const next: string[] = [];
    const hasMagic = /(^|[^\\])[*?[]/.test(part);
    for (const base of paths) {
      const join = (name: string) => (base === "" ? name : base.endsWith("/") ? base + name : `${base}/${name}`);
      if (!hasMagic) {
        const name = part.replace(/\\(.)/g, "$1");
        const p = join(name);
        try {
          statSync(p || ".");
          next.push(p);
        } catch {
          /* no such entry */
        }
        continue;
      }
      let entries: string[];
      try {
        entries = readdirSync(base || ".");
      } catch {
        continue;
      }
      for (const e of entries.sort()) {
        if (e.startsWith(".") && !part.startsWith(".")) continue;
        if (fnmatch(part, e)) next.push(join(e));
      }
    }
    paths = next;
  }
  return paths.length ? paths : [literal];
}
