/**
 * Contracts: what portod does with a container's stdout and stderr files, on
 * which the shim's CRI logs rest (src/logs): rotation at stdout_limit with
 * offsets counting the bytes cut, the blanked rest of the line a cut went
 * through (newline included), and the
 * files' removal at stop.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import type { Target } from "./targets.js";
import type { RawPorto } from "./raw-porto.js";

const LIMIT = 256 * 1024;

/** Where portod keeps the container's own stdout/stderr files. */
function workDir(t: Target, name: string): string {
  return join(t.double ? t.double.state.daemon.options.workDir : "/place/porto", name);
}

async function until(what: string, fn: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The bytes `seq 1 n` writes before the line holding `k`: "1\n" .. "(k-1)\n". */
function seqBytesBefore(k: number): number {
  let total = 0;
  for (let digits = 1, lo = 1; lo < k; digits++, lo *= 10) total += (Math.min(k, lo * 10) - lo) * (digits + 1);
  return total;
}

async function startSeq(c: RawPorto, name: string): Promise<void> {
  await c.call({ create: { name } });
  await c.set(name, "stdout_limit", String(LIMIT));
  // ~1.3 MB of numbered lines, then stay running (portod rotates running containers only).
  await c.set(name, "command", "sh -c 'seq 1 200000; echo done >&2; sleep 1000'");
  await c.call({ start: { name } });
}

contract("stdout and stderr files", (t) => {
  it("cuts a running container's stdout past stdout_limit: block-aligned head, offset counts the bytes cut", async () => {
    const c = await t().connect();
    const name = t().name("rotate");
    await startSeq(c, name);
    await until("a rotation", async () => Number(await c.get(name, "stdout_offset")) > 0);
    await until("the writer to finish", async () => (await c.get(name, "stderr")) === "done\n");
    await new Promise((r) => setTimeout(r, 1500)); // let the last rotation happen
    const offset = Number(await c.get(name, "stdout_offset"));
    assert.equal(offset % 4096, 0, "the cut is block aligned");
    assert.equal(await c.get(name, "stderr_offset"), "0", "each stream has its own offset");

    // What is left starts with the rest of the line the cut went through,
    // blanked with spaces, its newline included, so the spaces run straight
    // into the next complete line.
    const head = await c.get(name, `stdout[${offset}:4096]`);
    const m = /^( +)(\d+)\n/.exec(head);
    assert.ok(m, `head after the cut: ${JSON.stringify(head.slice(0, 40))}`);
    const k = Number(m[2]);
    assert.equal(seqBytesBefore(k), offset + m[1].length, "offset + position in the file = position in the stream");

    // Everything from the offset to the end is there: the file holds at most the limit.
    const total = seqBytesBefore(200001);
    const tail = await c.get(name, `stdout[${total - 7}:100]`);
    assert.equal(tail, "200000\n");
    assert.ok(total - offset <= LIMIT, `file ${total - offset} bytes, limit ${LIMIT}`);
    assert.ok(total - offset >= LIMIT / 2, "about half the limit is kept");
    assert.equal(await c.code({ getProperty: { name, property: `stdout[${offset - 1}:1]` } }), EError.InvalidData);
  });

  it("keeps a dead container's files and offsets, and removes both at stop", async () => {
    const c = await t().connect();
    const name = t().name("stopgone");
    await c.call({ create: { name } });
    await c.set(name, "command", "sh -c 'echo out; echo err >&2'");
    await c.call({ start: { name } });
    assert.equal(await c.waitFor(name), "dead");
    const dir = workDir(t(), name);
    assert.ok(existsSync(join(dir, "stdout")) && existsSync(join(dir, "stderr")));
    assert.equal(await c.get(name, "stdout"), "out\n");
    assert.equal(await c.get(name, "stdout_offset"), "0");
    await c.call({ stop: { name } });
    assert.equal(existsSync(join(dir, "stdout")), false, "stop removes stdout");
    assert.equal(existsSync(join(dir, "stderr")), false, "stop removes stderr");
    assert.equal(await c.code({ getProperty: { name, property: "stdout_offset" } }), EError.InvalidState);
  });
});
