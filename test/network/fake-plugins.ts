/**
 * Fake CNI plugins for tests: small shell scripts whose behaviour is baked in
 * when they are written, each appending one line per call to a shared log
 * (type, command, CNI_* variables, stdin), so tests can see what the runtime
 * ran, in which order, with which environment and config.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import type { Logger } from "pino";

export interface FakeBehaviour {
  /** Printed on ADD (JSON-encoded); nothing is printed when absent. */
  result?: unknown;
  /** Exit status for these commands (default: 0 for all). */
  failOn?: Array<"ADD" | "DEL" | "CHECK">;
  /** Printed to stdout when failing (the CNI error JSON), raw. */
  errorStdout?: string;
  /** Written to stderr on every call. */
  stderr?: string;
  /** Seconds to sleep on ADD, in a child process whose pid goes to `<log>.sleeper`. */
  hangOnAdd?: number;
}

export interface Invocation {
  type: string;
  command: string;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
  path: string;
  stdin: Record<string, unknown>;
}

/** Writes an executable fake plugin `type` into `dir`, logging to `log`. */
export async function writeFakePlugin(dir: string, type: string, log: string, b: FakeBehaviour = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const fails = (b.failOn ?? []).map((c) => `[ "$CNI_COMMAND" = ${c} ] && fail=1`).join("\n");
  const script = `#!/bin/sh
input=$(cat)
printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' ${q(type)} "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$input" >> ${q(log)}
${b.stderr !== undefined ? `printf '%s\\n' ${q(b.stderr)} >&2` : ""}
fail=0
${fails}
if [ $fail = 1 ]; then
  ${b.errorStdout !== undefined ? `printf '%s' ${q(b.errorStdout)}` : ":"}
  exit 1
fi
${b.hangOnAdd !== undefined ? `if [ "$CNI_COMMAND" = ADD ]; then sleep ${b.hangOnAdd} & echo $! > ${q(`${log}.sleeper`)}; wait; fi` : ""}
${b.result !== undefined ? `[ "$CNI_COMMAND" = ADD ] && printf '%s' ${q(JSON.stringify(b.result))}` : ""}
exit 0
`;
  const file = join(dir, type);
  await writeFile(file, script);
  await chmod(file, 0o755);
  return file;
}

/** The calls logged so far, in order. */
export async function invocations(log: string): Promise<Invocation[]> {
  let text: string;
  try {
    text = await readFile(log, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((line) => {
      const [type, command, containerId, netns, ifName, args, path, ...rest] = line.split("\t");
      return { type: type!, command: command!, containerId: containerId!, netns: netns!, ifName: ifName!, args: args!, path: path!, stdin: JSON.parse(rest.join("\t")) };
    });
}

/** A 1.0.0 result with one address per given CIDR on eth0 in the sandbox. */
export function fakeResult(netns: string, ...cidrs: string[]): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    interfaces: [
      { name: "br0", mac: "02:00:00:00:00:01" },
      { name: "eth0", mac: "02:00:00:00:00:02", sandbox: netns },
    ],
    ips: cidrs.map((address) => ({ address, interface: 1 })),
  };
}

/** A logger whose JSON lines land in `lines`. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString("utf8").split("\n")) if (l !== "") lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}
