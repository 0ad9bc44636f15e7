import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, rename, symlink, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ContainerNotRunningError } from "../../src/logs/index.js";
import { parseCriLog, streamText } from "./cri-log-reader.js";
import type { CriLine } from "./cri-log-reader.js";
import { FAST, harness } from "./harness.js";
import type { Harness } from "./harness.js";

async function lines(path: string): Promise<CriLine[]> {
  return parseCriLog(await readFile(path));
}

/** Asserts `text` is exactly "<prefix> <from>\n" .. "<prefix> <to-1>\n". */
function assertSequence(text: string, prefix: string, from: number, to: number): void {
  const got = text.split("\n");
  assert.equal(got.pop(), "", "ends with a newline");
  assert.equal(got.length, to - from, `line count: first ${JSON.stringify(got[0])} last ${JSON.stringify(got.at(-1))}`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== `${prefix} ${from + i}`) assert.fail(`line ${i}: ${JSON.stringify(got[i])}, expected "${prefix} ${from + i}"`);
  }
}

async function eventually(what: string, fn: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A shell loop printing "<prefix> 0" .. "<prefix> n-1", sleeping `pause` s after every `burst` lines. */
function counter(prefix: string, n: number, burst = n, pause = 0, stream: "out" | "err" = "out"): string {
  const redirect = stream === "err" ? " >&2" : "";
  return `i=0
while [ $i -lt ${n} ]; do
  echo "${prefix} $i"${redirect}
  i=$((i+1))
  if [ $((i % ${burst})) -eq 0 ]; then sleep ${pause}; fi
done`;
}

describe("container logs", () => {
  let h: Harness;
  before(async () => {
    h = await harness({ logRotateMs: 50 });
  });
  after(async () => {
    await h.close();
  });

  it("writes both streams as CRI lines, complete with the unfinished last line once flushed after exit", async () => {
    const m = h.manager();
    const spec = await h.run("both", "sh -c 'echo out1; echo err1 >&2; echo; sleep 0.2; echo out2; printf partial'");
    await m.start(spec);
    assert.ok(existsSync(spec.logPath), "the log file exists once start returns");
    await h.waitDead("both");
    await m.flush(spec.containerId);
    const got = await lines(spec.logPath);
    assert.equal(streamText(got, "stdout").toString(), "out1\n\nout2\npartial");
    assert.equal(streamText(got, "stderr").toString(), "err1\n");
    assert.deepEqual(got.at(-1)!.tag, "P");
    for (let i = 1; i < got.length; i++) assert.ok(got[i].ns >= got[i - 1].ns, "timestamps never go back");
    // Flushing again (ContainerStatus does, every time) changes nothing.
    const before = await readFile(spec.logPath);
    await m.flush(spec.containerId);
    assert.deepEqual(await readFile(spec.logPath), before);
  });

  it("follows a running container and has every byte in the file when flush returns after exit", async () => {
    const m = h.manager();
    const script = await h.script("burst.sh", `echo first; sleep 0.3\n${counter("line", 20000)}`);
    const spec = await h.run("burst", script);
    await m.start(spec);
    await eventually("the first line while the container runs", async () =>
      existsSync(spec.logPath) && (await readFile(spec.logPath, "utf8")).includes("stdout F first\n"),
    );
    await h.waitDead("burst");
    await m.flush(spec.containerId);
    const text = streamText(await lines(spec.logPath), "stdout").toString();
    assertSequence(text.slice("first\n".length), "line", 0, 20000);
  });

  it("cuts long lines into P partials at the configured size", async () => {
    const m = h.manager({ ...FAST, maxLineBytes: 1000 });
    const spec = await h.run("long", "sh -c 'head -c 2500 /dev/zero | tr \"\\\\0\" x; echo; echo short'");
    await m.start(spec);
    await h.waitDead("long");
    await m.flush(spec.containerId);
    const got = await lines(spec.logPath);
    assert.deepEqual(
      got.map((l) => `${l.tag}${l.content.length}`),
      ["P1000", "P1000", "F500", "F5"],
    );
  });

  it("logs a container whose start() came before Porto's start", async () => {
    const m = h.manager();
    const name = "early";
    await h.porto.create(name);
    await h.porto.setProperty(name, "command", "sh -c 'sleep 0.2; echo late'");
    const spec = { containerId: "e".repeat(64), portoName: name, logPath: join(h.logDir, "early", "0.log") };
    await m.start(spec);
    await m.flush(spec.containerId); // not started yet: nothing to finish
    await h.porto.start(name);
    await h.waitDead(name);
    await m.flush(spec.containerId);
    assert.equal(streamText(await lines(spec.logPath), "stdout").toString(), "late\n");
  });

  it("reopens: later output goes to a new file at the same path, nothing lost or repeated", async () => {
    const m = h.manager();
    const script = await h.script("slow.sh", counter("tick", 60, 3, 0.05));
    const spec = await h.run("reopen", script);
    await m.start(spec);
    await eventually("some output", async () => (await readFile(spec.logPath, "utf8")).includes("tick 5\n"));
    await rename(spec.logPath, `${spec.logPath}.1`);
    await m.reopen(spec.containerId);
    assert.ok(existsSync(spec.logPath), "the new file exists when reopen returns");
    await h.waitDead("reopen");
    await m.flush(spec.containerId);
    const old = streamText(await lines(`${spec.logPath}.1`), "stdout").toString();
    const now = streamText(await lines(spec.logPath), "stdout").toString();
    assert.ok(now.length > 0, "later lines are in the new file");
    assertSequence(old + now, "tick", 0, 60);
  });

  it("refuses to reopen the log of a container that is not running, as containerd does", async () => {
    const m = h.manager();
    const spec = await h.run("exited", "true");
    await m.start(spec);
    await h.waitDead("exited");
    await m.flush(spec.containerId);
    await assert.rejects(m.reopen(spec.containerId), (e: Error) => e instanceof ContainerNotRunningError && e.message === "container is not running");
    await assert.rejects(m.reopen("f".repeat(64)), ContainerNotRunningError);
  });

  it("resumes after a shim restart mid-stream: every line once, in order", async () => {
    const script = await h.script("steady.sh", counter("n", 3000, 100, 0.02));
    const spec = await h.run("restart", script);
    const m1 = h.manager();
    await m1.start(spec);
    await eventually("output before the restart", async () => (await readFile(spec.logPath, "utf8")).includes("n 200\n"));
    await m1.close();
    await new Promise((r) => setTimeout(r, 150)); // the container writes on while the shim is away
    const m2 = h.manager();
    await m2.recover([spec]);
    await h.waitDead("restart");
    await m2.flush(spec.containerId);
    assertSequence(streamText(await lines(spec.logPath), "stdout").toString(), "n", 0, 3000);
  });

  it("a flush that comes before recover (start-up still reconciling) resumes the log from its record", async () => {
    const script = await h.script("early-flush.sh", counter("q", 2000, 500, 0.05));
    const spec = await h.run("earlyflush", script);
    const m1 = h.manager();
    await m1.start(spec);
    await eventually("some output", async () => (await readFile(spec.logPath, "utf8")).includes("q 10\n"));
    await m1.close();
    await h.waitDead("earlyflush");
    const m2 = h.manager();
    await m2.flush(spec.containerId);
    assertSequence(streamText(await lines(spec.logPath), "stdout").toString(), "q", 0, 2000);
    await m2.recover([spec]); // and recover later finds it done
    assertSequence(streamText(await lines(spec.logPath), "stdout").toString(), "q", 0, 2000);
  });

  it("after a restart, flush of a finished log changes nothing and records of removed containers go", async () => {
    const m1 = h.manager();
    const spec = await h.run("done", "sh -c 'echo a; printf b'");
    await m1.start(spec);
    await h.waitDead("done");
    await m1.flush(spec.containerId);
    const gone = await h.run("gone", "true");
    await m1.start(gone);
    await m1.close();
    const before = await readFile(spec.logPath);
    const m2 = h.manager();
    await m2.recover([spec]);
    await m2.flush(spec.containerId);
    assert.deepEqual(await readFile(spec.logPath), before);
    assert.ok(!(await readdir(join(h.stateDir, "logs"))).includes(`${gone.containerId}.json`));
    await m2.remove(spec.containerId);
    await m2.remove(spec.containerId);
    assert.ok(!(await readdir(join(h.stateDir, "logs"))).includes(`${spec.containerId}.json`));
    assert.ok(existsSync(spec.logPath), "the CRI log itself is kubelet's to delete");
  });

  it("keeps up with portod's rotation while running: offsets move, no line lost or repeated", async () => {
    const m = h.manager({ ...FAST, burstLimitBytes: 0 });
    const script = await h.script("rotating.sh", counter("r", 20000, 200, 0.01, "err"));
    const spec = await h.run("rotating", script, { stdout_limit: String(64 * 1024) });
    await m.start(spec);
    await h.waitDead("rotating", 60_000);
    await m.flush(spec.containerId);
    assert.ok(Number(await h.porto.getProperty("rotating", "stderr_offset")) > 0, "portod's file was cut");
    assertSequence(streamText(await lines(spec.logPath), "stderr").toString(), "r", 0, 20000);
    assert.equal(m.stats().lostBytes, 0);
  });

  it("detects output portod rotated away while the shim was down, and resumes at a whole line", async () => {
    const script = await h.script("flood.sh", counter("f", 40000));
    const spec = await h.run("flood", script, { stdout_limit: String(64 * 1024) });
    await h.waitDead("flood"); // no shim while it writes: portod cuts it at exit
    const m = h.manager();
    await m.recover([spec]);
    await m.flush(spec.containerId);
    const offset = Number(await h.porto.getProperty("flood", "stdout_offset"));
    assert.ok(offset > 0);
    const text = streamText(await lines(spec.logPath), "stdout").toString();
    const first = Number(/^f (\d+)\n/.exec(text)?.[1]);
    assert.ok(first > 0, `resumes at a whole line, not blanks: ${JSON.stringify(text.slice(0, 30))}`);
    assertSequence(text, "f", first, 40000);
    assert.ok(m.stats().lostBytes >= offset, `${m.stats().lostBytes} lost, portod cut ${offset}`);
  });

  it("drops lines on a full disk without stopping the container or the pump, and logs again after reopen", async () => {
    const m = h.manager();
    const script = await h.script("full.sh", counter("d", 40, 2, 0.05));
    const spec = await h.run("diskfull", script);
    await mkdir(join(h.logDir, "diskfull"), { recursive: true });
    await symlink("/dev/full", spec.logPath); // every write fails with ENOSPC
    await m.start(spec);
    await eventually("lines dropped", () => m.stats().droppedLines >= 5);
    assert.equal(await h.porto.getProperty("diskfull", "state"), "running");
    await rename(spec.logPath, `${spec.logPath}.full`); // kubelet rotates; the disk has room again
    await m.reopen(spec.containerId);
    await h.waitDead("diskfull");
    await m.flush(spec.containerId);
    assert.equal(await h.porto.getProperty("diskfull", "exit_code"), "0");
    const text = streamText(await lines(spec.logPath), "stdout").toString();
    const first = Number(/^d (\d+)\n/.exec(text)?.[1]);
    assert.ok(first >= 5);
    assertSequence(text, "d", first, 40);
    await rm(`${spec.logPath}.full`);
  });
});

describe("container logs against a fast writer", () => {
  let h: Harness;
  before(async () => {
    h = await harness(); // portod's own rotation period, 1 s
  });
  after(async () => {
    await h.close();
  });

  it("raises stdout_limit while a burst outruns the pump and puts it back once caught up; nothing lost", async () => {
    const m = h.manager({ ...FAST, lowerAfterMs: 500, readChunkBytes: 64 * 1024 });
    // ~4.5 MB in a few ms, 18 times the limit; then the container stays up.
    const spec = await h.run("spurt", "sh -c 'seq 1 600000; sleep 1.5'", { stdout_limit: String(256 * 1024) });
    await m.start(spec);
    await eventually("the burst read", async () => (await readFile(spec.logPath, "utf8")).includes("stdout F 600000\n"), 30_000);
    assert.equal(await h.porto.getProperty("spurt", "stdout_limit"), String(1024 * 1024 * 1024), "raised while catching up");
    await eventually("the limit put back", async () => (await h.porto.getProperty("spurt", "stdout_limit")) === String(256 * 1024));
    await h.waitDead("spurt");
    await m.flush(spec.containerId);
    const text = streamText(await lines(spec.logPath), "stdout").toString().split("\n");
    assert.equal(text.pop(), "");
    assert.equal(text.length, 600000);
    text.forEach((l, i) => l === String(i + 1) || assert.fail(`line ${i}: ${l}`));
    assert.equal(m.stats().lostBytes, 0);
  });
});
