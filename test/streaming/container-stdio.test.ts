/**
 * Attach against the Porto double: following the main process' output files,
 * stdin through the FIFO StartContainer prepares, stdin_once.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
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

describe("ContainerStdio stdin keepers", () => {
  const keeperPid = (d: string, id: string) => Number(readFileSync(join(d, `${id}.keeper`), "utf8"));
  const alive = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep\0infinity");
    } catch {
      return false;
    }
  };

  it("starts the keeper through its launcher (same pid, as systemd-run --scope execs in place), and directly when the launcher fails", async () => {
    const d = mkdtempSync(join(tmpdir(), "stdio-keeper-"));
    const launched: string[] = [];
    const through = new ContainerStdio({ porto, dir: d, launcher: (id) => (launched.push(id), ["env", "THROUGH_LAUNCHER=1"]) });
    const failing = new ContainerStdio({ porto, dir: d, launcher: () => ["false"] });
    const [a, b] = [newId(), newId()];
    try {
      (await through.prepareStdin(a)).started();
      (await failing.prepareStdin(b)).started();
      assert.deepEqual(launched, [a]);
      const pa = keeperPid(d, a);
      assert.ok(alive(pa), "the launched keeper holds the FIFO");
      assert.match(readFileSync(`/proc/${pa}/environ`, "utf8"), /THROUGH_LAUNCHER=1/);
      assert.ok(alive(keeperPid(d, b)), "the fallback keeper holds the FIFO");
    } finally {
      through.release(a);
      failing.release(b);
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("start-up releases the keepers and FIFOs of containers that are gone and keeps the others", async () => {
    const d = mkdtempSync(join(tmpdir(), "stdio-keeper-"));
    const s = new ContainerStdio({ porto, dir: d });
    const [gone, live] = [newId(), newId()];
    try {
      (await s.prepareStdin(gone, true)).started();
      (await s.prepareStdin(live)).started();
      const [pg, pl] = [keeperPid(d, gone), keeperPid(d, live)];
      assert.deepEqual(s.reconcile((id) => id === live), [gone]);
      await until(() => !alive(pg));
      assert.ok(alive(pl));
      assert.deepEqual(readdirSync(d).sort(), [live, `${live}.keeper`].sort());
    } finally {
      s.release(live);
      s.release(gone);
      rmSync(d, { recursive: true, force: true });
    }
  });
});
