/**
 * Terminal holders on their own: a real process on the slave (as portod
 * would start it), attachers through the holder's socket, the output file
 * and its cuts, stdin and stdin_once, release and reconciliation.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { newId } from "../../src/mapping/ids.js";
import { TtyHolders } from "../../src/streaming/tty-holder.js";
import type { TerminalOptions } from "../../src/streaming/tty-holder.js";
import type { TerminalSize } from "../../src/streaming/exec-backend.js";

let dir: string;
let ttys: TtyHolders;
const used: string[] = [];
const procs: ChildProcess[] = [];

class Sink extends Writable {
  text = "";
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void) {
    this.text += c.toString();
    cb();
  }
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  for (const t0 = Date.now(); !cond(); ) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `script` on a new terminal, as portod would with the slave as all three streams. */
async function run(script: string, terminal: TerminalOptions = { stdin: true, stdinOnce: false }, holders = ttys) {
  const id = newId();
  used.push(id);
  const tty = await holders.prepare(id, terminal);
  const fd = Number(tty.slavePath.slice("/dev/fd/".length));
  const proc = spawn("sh", ["-c", script], { stdio: [fd, fd, fd], detached: true });
  procs.push(proc);
  tty.started();
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return { id, tty, proc, exited };
}

interface Session {
  out: Sink;
  stdin: PassThrough;
  sizes: PassThrough;
  done: Promise<void>;
  leave(): Promise<void>;
}

function attach(id: string, holders = ttys): Session {
  const out = new Sink();
  const stdin = new PassThrough();
  const sizes = new PassThrough({ objectMode: true });
  const ac = new AbortController();
  const done = holders.attach(id, {
    tty: true,
    stdin,
    stdout: out,
    resize: sizes as unknown as AsyncIterable<TerminalSize>,
    signal: ac.signal,
  });
  return {
    out,
    stdin,
    sizes,
    done,
    async leave() {
      ac.abort();
      await done;
    },
  };
}

/** `p`, or a failure naming `what` if it has not settled within `ms` (a broken holder must fail, not hang). */
async function within<T>(what: string, p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const files = (id: string) => readdirSync(dir).filter((f) => f.startsWith(id)).map((f) => f.slice(id.length)).sort();

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tty-"));
  ttys = new TtyHolders({ dir });
});

after(() => {
  for (const p of procs) if (p.pid) try { process.kill(-p.pid, "SIGKILL"); } catch { /* gone */ }
  for (const id of used) ttys.release(id);
  rmSync(dir, { recursive: true, force: true });
});

describe("TtyHolders", () => {
  it("gives the process a terminal; attachers type, resize, see the echo; detaching leaves it running; two at once", async () => {
    const { id, tty, proc } = await run("tty; cat");
    await until("tty's answer in the output file", () => readFileSync(tty.outputPath, "utf8").includes("\n"));
    assert.match(readFileSync(tty.outputPath, "utf8"), /^\/dev\/pts\/\d+\r\n$/, "tty says a terminal, with the terminal's CRLF");

    const a = attach(id);
    a.sizes.write({ width: 120, height: 40 });
    a.stdin.write("hello\n");
    await until("the echo and cat's copy", () => a.out.text === "hello\r\nhello\r\n");
    const b = attach(id);
    a.stdin.write("both\n");
    await until("both attachers see it", () => a.out.text.endsWith("both\r\nboth\r\n") && b.out.text.endsWith("both\r\nboth\r\n"));
    assert.equal(b.out.text, "both\r\nboth\r\n", "an attacher sees what the terminal shows from when it came");
    await a.leave();
    assert.equal(proc.exitCode, null, "still running after a detach");
    await b.leave();

    // What the terminal showed is all in the output file, for the log.
    const c = attach(id);
    c.stdin.write("x\n");
    await until("a third attacher works", () => c.out.text === "x\r\nx\r\n");
    await c.leave();
    assert.match(readFileSync(tty.outputPath, "utf8"), /hello\r\nhello\r\nboth\r\nboth\r\n/);
    assert.equal(proc.exitCode, null);
  });

  it("resize sets the window size the process sees", async () => {
    const { id } = await run("while :; do stty size; sleep 0.05; done");
    const a = attach(id);
    a.sizes.write({ width: 100, height: 30 });
    await until("the first size", () => a.out.text.includes("30 100\r\n"));
    a.sizes.write({ width: 81, height: 25 });
    await until("the second size", () => a.out.text.includes("25 81\r\n"));
    await a.leave();
  });

  it("when the process ends: the last output is in the file and with the attacher, the session ends, the holder is done", async () => {
    const { id, tty } = await run("read x; echo bye $x; exit 0");
    const a = attach(id);
    a.stdin.write("now\n");
    await within("the session to end by itself", a.done);
    assert.match(a.out.text, /bye now\r\n$/);
    await until("the holder to finish", () => !existsSync(`${join(dir, id)}.pid`));
    assert.match(readFileSync(tty.outputPath, "utf8"), /bye now\r\n$/);
    assert.deepEqual(await ttys.outputFacts(tty.outputPath), { offset: 0, limit: 64 * 1024 * 1024, writing: false });
    assert.deepEqual(files(id), [".err", ".out", ".state"], "the socket is gone, the output stays for the log");
    await assert.rejects(ttys.attach(id, { tty: true, signal: new AbortController().signal }), /no terminal/);
  });

  it("without stdin, attachers' input does not reach the terminal", async () => {
    const { id, tty } = await run("while :; do stty size; sleep 0.05; done", { stdin: false, stdinOnce: false });
    const a = attach(id);
    a.stdin.write("typed\n");
    // The size goes on the same socket after the input: once it shows, the input was handled too.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    a.sizes.write({ width: 77, height: 11 });
    await until("the size", () => a.out.text.includes("11 77\r\n"));
    await a.leave();
    assert.doesNotMatch(readFileSync(tty.outputPath, "utf8"), /typed/, "no echo: nothing was typed");
  });

  it("stdin_once: the first attacher's end of input hangs the terminal up, the process sees its input end", async () => {
    const { id, tty, exited } = await run("cat; echo never", { stdin: true, stdinOnce: true });
    const a = attach(id);
    a.stdin.write("last\n");
    await until("the echo", () => a.out.text.includes("last\r\nlast\r\n"));
    a.stdin.end();
    await within("the session to end", a.done);
    await within("the process to end", exited);
    await until("the holder to finish", () => !existsSync(`${join(dir, id)}.pid`));
    assert.equal(readFileSync(tty.outputPath, "utf8"), "last\r\nlast\r\n");
  });

  it("keeps the output file bounded, cutting at line starts and counting what it cut", async () => {
    const small = new TtyHolders({ dir, outputLimit: 8192 });
    const { id, tty } = await run("i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; read x", undefined, small);
    await until("the last line", () => readFileSync(tty.outputPath, "utf8").includes("line 2999\r\n"));
    const facts = await small.outputFacts(tty.outputPath);
    const text = readFileSync(tty.outputPath, "utf8");
    assert.equal(facts.limit, 8192);
    assert.equal(facts.writing, true);
    assert.ok(text.length <= 8192 && text.length >= 4096, `${text.length} bytes kept: at least half the limit, at most the limit`);
    // Every byte is where offset + position says: the cut kept whole lines of the stream.
    let all = "";
    for (let i = 0; i < 3000; i++) all += `line ${i}\r\n`;
    assert.equal(facts.offset + text.length, all.length);
    assert.equal(text, all.slice(facts.offset));
    assert.match(text, /^line \d+\r\n/);
  });

  it("release kills the holder and removes its files; reconcile releases only containers that are gone", async () => {
    const gone = await run("sleep 30");
    const kept = await run("sleep 30");
    const pid = Number(readFileSync(`${join(dir, gone.id)}.pid`, "utf8"));
    const released = ttys.reconcile((id) => id !== gone.id);
    assert.deepEqual(released, [gone.id]);
    assert.deepEqual(files(gone.id), []);
    await until("the holder to die", () => !existsSync(`/proc/${pid}/cmdline`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"));
    assert.ok(ttys.owns(kept.id));
    ttys.release(kept.id);
    ttys.release(kept.id); // idempotent
    assert.deepEqual(files(kept.id), []);
    assert.equal(ttys.owns(kept.id), false);
  });

  it("starts the holder through its launcher, and directly when the launcher fails", async () => {
    const through = new TtyHolders({ dir, launcher: () => ["env", "THROUGH_LAUNCHER=1"] });
    const a = await run("echo hi; sleep 30", undefined, through);
    const pid = Number(readFileSync(`${join(dir, a.id)}.pid`, "utf8"));
    assert.match(readFileSync(`/proc/${pid}/environ`, "utf8"), /THROUGH_LAUNCHER=1/);
    const failing = new TtyHolders({ dir, launcher: () => ["false"] });
    const b = await run("echo hi; sleep 30", undefined, failing);
    await until("output", () => readFileSync(b.tty.outputPath, "utf8") === "hi\r\n");
  });

  it("attaches however long the directory's path is (longer than a unix socket address holds)", async () => {
    const deep = new TtyHolders({ dir: join(dir, "d".repeat(60)) });
    const { id } = await run("cat", undefined, deep);
    const a = attach(id, deep);
    a.stdin.write("deep\n");
    await until("the echo", () => a.out.text === "deep\r\ndeep\r\n");
    await a.leave();
    deep.release(id);
  });
});
