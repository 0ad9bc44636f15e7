/**
 * Crash consistency: the pump is SIGKILLed at random instants (between a log
 * write and the record's commit among them) while the container writes on;
 * every restart resumes from the last commit. The file must end up with
 * every line exactly once, in order.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseCriLog, streamText } from "./cri-log-reader.js";
import { harness } from "./harness.js";
import type { Harness } from "./harness.js";

const CHILD = fileURLToPath(new URL("./pump-child.ts", import.meta.url));

let h: Harness;
before(async () => {
  h = await harness({ logRotateMs: 0 });
});
after(async () => {
  await h.close();
});

/** Runs one pump process until `killAfterMs` after it is ready, then SIGKILLs it; returns its stdout. */
function runAndKill(spec: object, killAfterMs: number): Promise<string> {
  const arg = JSON.stringify({ socket: h.socketPath, stateDir: h.stateDir, workDir: h.workDir, spec });
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, arg], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      const ready = !out.includes("ready\n");
      out += d.toString();
      if (ready && out.includes("ready\n")) setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    });
    child.on("exit", (_code, signal) => (signal === "SIGKILL" ? resolve(out) : reject(new Error(`pump exited by itself: ${out}`))));
  });
}

it("loses and repeats no line when the shim is killed at random instants mid-stream", { timeout: 120_000 }, async () => {
  const lines = 15000;
  const script = await h.script("crash.sh", `i=0
while [ $i -lt ${lines} ]; do
  echo "k $i"
  i=$((i+1))
  if [ $((i % 150)) -eq 0 ]; then sleep 0.02; fi
done`);
  const spec = await h.run("crash", script);
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  let cuts = 0;
  let kills = 0;
  while ((await h.porto.getProperty("crash", "state")) === "running" || kills < 3) {
    const out = await runAndKill(spec, 10 + rand(120));
    kills++;
    cuts += out.split("\n").filter((l) => l.includes("cut log lines written after the last commit")).length;
    if (kills > 60) break;
  }
  if (process.env.CRASH_DEBUG) console.error({ kills, cuts });
  await h.waitDead("crash");
  const m = h.manager();
  await m.recover([spec]);
  await m.flush(spec.containerId);
  const text = streamText(parseCriLog(await readFile(spec.logPath)), "stdout").toString().split("\n");
  assert.equal(text.pop(), "");
  assert.equal(text.length, lines, `${kills} kills`);
  text.forEach((l, i) => {
    if (l !== `k ${i}`) assert.fail(`line ${i} is ${JSON.stringify(l)}`);
  });
  assert.ok(cuts > 0, `some kill fell between a write and its commit (${kills} kills, ${cuts} recoveries cut a tail)`);
});
