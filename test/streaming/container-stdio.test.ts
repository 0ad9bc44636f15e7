/**
 * Attach against the Porto double: following the main process' output files,
 * stdin through the FIFO StartContainer prepares, stdin_once.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { startPortoDouble } from "../porto-double/index.js";
import type { PortoDouble } from "../porto-double/index.js";
import { PortoClient } from "../../src/porto/index.js";
import { newId } from "../../src/mapping/ids.js";
import { containerPortoName } from "../../src/mapping/porto-names.js";
import { ContainerStdio } from "../../src/streaming/container-stdio.js";

let double: PortoDouble;
let porto: PortoClient;
let stdio: ContainerStdio;
let dir: string;
const podId = newId();
/** Every container given a stdin keeper, released at the end even if a test failed. */
const prepared: string[] = [];

class Sink extends Writable {
  text = "";
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void) {
    this.text += c.toString();
    cb();
  }
}

async function startWithStdin(id: string, command: string, once: boolean): Promise<string> {
  const name = containerPortoName(podId, id);
  await porto.createFromSpec({ name, command });
  const stdin = await stdio.prepareStdin(id, once);
  prepared.push(id);
  try {
    await porto.setProperty(name, "stdin_path", stdin.stdinPath);
    await porto.start(name);
  } finally {
    stdin.started();
  }
  return name;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = Date.now(); !cond(); ) {
    if (Date.now() - t0 > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "stdio-test-"));
  double = await startPortoDouble();
  porto = new PortoClient({ socketPath: double.socketPath });
  await porto.createFromSpec({ name: `k8s-${podId}`, command: "sleep 1000" }, { start: true });
  stdio = new ContainerStdio({ porto, dir, portoWorkDir: double.state.daemon.options.workDir });
});

after(async () => {
  for (const id of prepared) stdio.release(id);
  porto.close();
  await double.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ContainerStdio attach", () => {
  it("follows output from now on and feeds stdin; detaching leaves the process running, a second attacher works", async () => {
    const id = newId();
    const name = await startWithStdin(id, "sh -c 'echo before; while read l; do echo \"got $l\"; echo \"err $l\" >&2; done'", false);
    await new Promise((r) => setTimeout(r, 200));
    for (const word of ["one", "two"]) {
      const stdin = new PassThrough();
      const out = new Sink();
      const err = new Sink();
      const ac = new AbortController();
      const done = stdio.attach({ id, portoName: name }, { tty: false, stdin, stdout: out, stderr: err, signal: ac.signal });
      stdin.write(`${word}\n`);
      await until(() => out.text.includes(`got ${word}`) && err.text.includes(`err ${word}`));
      ac.abort();
      await done;
      assert.equal(out.text, `got ${word}\n`, "only output written after attaching");
      assert.equal(await porto.getProperty(name, "state"), "running");
    }
    stdio.release(id);
  });

  it("stdin_once: the first attacher's end of input is the process' end of input", async () => {
    const id = newId();
    const name = await startWithStdin(id, "sh -c 'cat; echo eof-seen; sleep 0.2'", true);
    const stdin = new PassThrough();
    const out = new Sink();
    const done = stdio.attach({ id, portoName: name }, { tty: false, stdin, stdout: out, signal: new AbortController().signal });
    stdin.end("last words\n");
    await done; // ends with the process, which ends because its stdin did
    assert.equal(out.text, "last words\neof-seen\n");
    assert.equal(await porto.getProperty(name, "state"), "dead");
    stdio.release(id);
  });

  it("ends when the process exits, after its last output", async () => {
    const id = newId();
    const name = containerPortoName(podId, id);
    await porto.createFromSpec({ name, command: "sh -c 'sleep 0.3; echo last'" }, { start: true });
    const out = new Sink();
    await stdio.attach({ id, portoName: name }, { tty: false, stdout: out, signal: new AbortController().signal });
    assert.equal(out.text, "last\n");
  });
});
