/**
 * The pump against a real portod (PORTO_SOCKET=/run/portod.socket), reading
 * real containers' stdout/stderr files across portod's own rotation. Skipped
 * without PORTO_SOCKET; containers are named logs-<random>-* and destroyed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { parseCriLog, streamText } from "./cri-log-reader.js";
import { FAST, harness } from "./harness.js";
import type { Harness } from "./harness.js";

const socket = process.env.PORTO_SOCKET;

function assertSequence(text: string, prefix: string, from: number, to: number): void {
  const got = text.split("\n");
  assert.equal(got.pop(), "");
  assert.equal(got.length, to - from, `first ${JSON.stringify(got[0])} last ${JSON.stringify(got.at(-1))}`);
  got.forEach((l, i) => l === `${prefix} ${from + i}` || assert.fail(`line ${i}: ${JSON.stringify(l)}`));
}

describe("container logs on a real portod", { skip: socket ? false : "PORTO_SOCKET is not set" }, () => {
  let h: Harness;
  before(async () => {
    h = await harness({ socket });
  });
  after(async () => {
    await h?.close();
  });

  it("reads stdout and stderr across portod's rotation with every line once", async () => {
    const m = h.manager({ ...FAST, burstLimitBytes: 0 }); // let portod cut under the pump
    const n = 60000;
    const script = await h.script("both.sh", `i=0
while [ $i -lt ${n} ]; do
  echo "o $i"; echo "e $i" >&2
  i=$((i+1))
  if [ $((i % 400)) -eq 0 ]; then sleep 0.02; fi
done`);
    const spec = await h.run("rotate", script, { stdout_limit: String(256 * 1024) });
    await m.start(spec);
    await h.waitDead(spec.portoName, 60_000);
    await m.flush(spec.containerId);
    const out = Number(await h.porto.getProperty(spec.portoName, "stdout_offset"));
    const err = Number(await h.porto.getProperty(spec.portoName, "stderr_offset"));
    assert.ok(out > 0 && err > 0, `portod cut both files (offsets ${out}, ${err})`);
    const lines = parseCriLog(await readFile(spec.logPath));
    assertSequence(streamText(lines, "stdout").toString(), "o", 0, n);
    assertSequence(streamText(lines, "stderr").toString(), "e", 0, n);
    assert.equal(m.stats().lostBytes, 0);
  });

  it("resumes after a restart mid-stream, and reports output portod cut while the shim was away", async () => {
    const n = 200000;
    const script = await h.script("gap.sh", `i=0
while [ $i -lt ${n} ]; do
  echo "g $i"
  i=$((i+1))
  if [ $((i % 20000)) -eq 0 ]; then sleep 0.3; fi
done`);
    const spec = await h.run("gap", script, { stdout_limit: String(256 * 1024) });
    const m1 = h.manager({ ...FAST, burstLimitBytes: 0 });
    await m1.start(spec);
    await new Promise((r) => setTimeout(r, 600));
    await m1.close(); // the shim goes away while the container writes on
    await h.waitDead(spec.portoName, 60_000);
    const m2 = h.manager(FAST);
    await m2.recover([spec]);
    await m2.flush(spec.containerId);
    const text = streamText(parseCriLog(await readFile(spec.logPath)), "stdout").toString();
    const got = text.split("\n").slice(0, -1);
    // Everything up to the restart, then a gap, then whole lines to the end.
    const gapAt = got.findIndex((l, i) => l !== `g ${i}`);
    assert.ok(gapAt > 0, "lines before the restart are there");
    const resumed = Number(/^g (\d+)$/.exec(got[gapAt])?.[1]);
    assert.ok(resumed > gapAt, `resumes at a whole line after the gap: ${JSON.stringify(got[gapAt])}`);
    assertSequence(got.slice(gapAt).join("\n") + "\n", "g", resumed, n);
    assert.ok(m2.stats().lostBytes > 0, "the loss is counted");
  });
});
