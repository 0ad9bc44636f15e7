/**
 * Porto's environment model (src/env.cpp): an ordered list of variables that
 * may be set or explicitly unset, parsed from and printed to the `env`
 * property text `K=V;K2=V2` (items trimmed, `\;` and `\\` escaped, a bare
 * `K` unsets K).
 */
import { mergeEscaped, splitEscaped } from "./text.js";

export interface EnvVar {
  name: string;
  value: string;
  set: boolean;
  locked: boolean;
  overwritten: boolean;
}

export class Env {
  readonly vars: EnvVar[] = [];

  setEnv(name: string, value: string, overwrite = true, lock = false): void {
    const v = this.vars.find((x) => x.name === name);
    if (v) {
      if (!overwrite) return;
      if (v.locked && value !== v.value) return;
      Object.assign(v, { value, set: true, locked: lock, overwritten: overwrite });
      return;
    }
    this.vars.push({ name, value, set: true, locked: lock, overwritten: overwrite });
  }

  unsetEnv(name: string, overwrite = true): void {
    const v = this.vars.find((x) => x.name === name);
    if (v) {
      if (!overwrite && v.set) return;
      if (v.locked && v.set) return;
      Object.assign(v, { value: "", set: false, overwritten: overwrite });
      return;
    }
    this.vars.push({ name, value: "", set: false, locked: false, overwritten: overwrite });
  }

  /** TEnv::Parse: with overwrite=false, existing names win (parents' env under a child's). */
  parse(cfg: string, overwrite: boolean): void {
    for (const item of splitEscaped(cfg, ";")) {
      const sep = item.indexOf("=");
      if (sep < 0) this.unsetEnv(item, overwrite);
      else this.setEnv(item.slice(0, sep), item.slice(sep + 1), overwrite);
    }
  }

  /** TEnv::Format: the text the `env` property reads back. */
  format(): string {
    return mergeEscaped(
      this.vars.map((v) => (v.set ? `${v.name}=${v.value}` : v.name)),
      ";",
    );
  }

  get(name: string): string | undefined {
    const v = this.vars.find((x) => x.name === name && x.set);
    return v?.value;
  }

  /** Set variables as a map, in order, for spawning a process. */
  toMap(): Map<string, string> {
    const m = new Map<string, string>();
    for (const v of this.vars) if (v.set) m.set(v.name, v.value);
    return m;
  }
}
