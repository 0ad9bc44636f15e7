/**
 * `npm run bench`: runs every test/bench/*.bench.ts with its defaults (so
 * against the Porto test double), one after another, each in a process of its
 * own so that one benchmark's heap and timers do not skew the next, and prints
 * their figures as they come.
 *
 *   npm run bench [-- list porto-client]   only the benchmarks whose names contain one of these
 *
 * A benchmark that fails is reported and the others still run; the exit code
 * says whether all of them finished.
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";

const dir = import.meta.dirname;
const only = process.argv.slice(2);
const benches = (await readdir(dir))
  .filter((f) => f.endsWith(".bench.ts") && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort();
if (benches.length === 0) {
  process.stderr.write(`no benchmark in ${dir} matches ${only.join(" ")}\n`);
  process.exit(1);
}

const failed: string[] = [];
for (const file of benches) {
  process.stdout.write(`\n=== ${file}\n`);
  const t0 = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(dir, file)], { stdio: "inherit" });
    child.once("exit", (c, signal) => resolve(signal ? null : c));
  });
  process.stdout.write(`=== ${file}: ${code === 0 ? "done" : "FAILED"} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  if (code !== 0) failed.push(file);
}
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(", ")}\n`);
  process.exit(1);
}
