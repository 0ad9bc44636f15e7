/**
 * The CRI log of a container with a terminal: the pump follows the holder's
 * output file (not portod's), with the holder's cut count as the offset, and
 * keeps whole lines in order across cuts, including cuts made while the
 * shim was down.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { PortoClient } from "../../src/porto/client.js";
import { ContainerLogManager, terminalLogSpec } from "../../src/logs/index.js";
import { TtyHolders } from "../../src/streaming/tty-holder.js";
import { startPortoDouble } from "../porto-double/index.js";
import type { PortoDouble } from "../porto-double/index.js";
import { parseCriLog, streamText } from "./cri-log-reader.js";
import { FAST } from "./harness.js";

let dir: string;
let double: PortoDouble;
let porto: PortoClient;
let ttys: TtyHolders;
const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
const id = "7".repeat(64);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tl-"));
  double = await startPortoDouble({ workDir: join(dir, "place") });
  porto = new PortoClient({ socketPath: double.socketPath, timeoutMs: 10_000 });
  ttys = new TtyHolders({ dir: join(dir, "t"), outputLimit: 16 * 1024 });
});

after(async () => {
  ttys.release(id);
  porto.close();
  await double.close();
  rmSync(dir, { recursive: true, force: true });
});

function manager(): ContainerLogManager {
  return new ContainerLogManager({
    stateDir: join(dir, "state"),
    porto,
    logger,
    tuning: FAST,
    terminalFacts: (p) => ttys.outputFacts(p),
  });
}

async function waitFor(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !(await cond()); ) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the CRI log of a container with a terminal", () => {
  it("follows the holder's file across its cuts, while running and after a shim outage, in whole lines, in order", async () => {
    const name = "k8s-tty";
    const go = (step: string) => join(dir, `go-${step}`);
    // Six steps of 400 lines (about 4.4 KiB each, so never more unread than a cut keeps), each when
    // told; then, when told, 3000 lines at once (twice the 16 KiB limit).
    const script = `i=0; k=0
while [ $k -lt 6 ]; do
  while [ ! -e ${go("")}$k ]; do sleep 0.02; done
  j=0; while [ $j -lt 400 ]; do echo line $i; i=$((i+1)); j=$((j+1)); done
  k=$((k+1))
done
while [ ! -e ${go("end")} ]; do sleep 0.02; done
while [ $i -lt 5400 ]; do echo line $i; i=$((i+1)); done`;
    writeFileSync(join(dir, "script.sh"), script);
    const tty = await ttys.prepare(id, { stdin: false, stdinOnce: false });
    try {
      await porto.createFromSpec({ name, command: `sh ${join(dir, "script.sh")}`, stdinPath: tty.slavePath, stdoutPath: tty.slavePath, stderrPath: tty.slavePath });
      await porto.start(name);
    } finally {
      tty.started();
    }
    const logPath = join(dir, "pods", "0.log");
    const spec = { containerId: id, portoName: name, logPath, ...terminalLogSpec(tty.outputPath) };
    const first = manager();
    await first.start(spec);
    for (let k = 0; k < 6; k++) {
      writeFileSync(go(String(k)), "");
      const last = `stdout F line ${400 * k + 399}\n`;
      await waitFor(`line ${400 * k + 399} in the log`, async () => (await readFile(logPath, "utf8")).includes(last));
    }
    assert.ok((await ttys.outputFacts(tty.outputPath)).offset > 0, "the holder cut while the log followed");
    // The shim goes away; the holder cuts what nobody reads; a new shim takes over.
    await first.close();
    writeFileSync(go("end"), "");
    await waitFor("the process to end", async () => (await porto.getProperty(name, "state")) === "dead");
    const second = manager();
    await second.recover([{ ...spec, started: true }]);
    await second.flush(id);

    const lines = streamText(parseCriLog(await readFile(logPath)), "stdout").toString().split("\n");
    assert.equal(lines.pop(), "", "the log ends with a whole line");
    const numbers = lines.map((l) => {
      const m = /^line (\d+)$/.exec(l);
      if (!m) assert.fail(`not a whole line: ${JSON.stringify(l)}`);
      return Number(m[1]);
    });
    for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1], `line ${numbers[i]} after ${numbers[i - 1]}`);
    assert.deepEqual(numbers.slice(0, 2400), Array.from({ length: 2400 }, (_, i) => i), "everything while the shim followed");
    assert.equal(numbers.at(-1), 5399, "the last line");
    assert.ok(numbers.length < 5400 && second.stats().lostBytes > 0, "what the holder cut during the outage is counted as lost");
    assert.ok(readFileSync(tty.outputPath).length <= 16 * 1024);
    await second.close();
  });
});
