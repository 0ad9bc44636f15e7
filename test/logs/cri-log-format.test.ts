import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_LINE_BYTES,
  formatCriLines,
  formatCriLog,
  formatRfc3339Nano,
  maxCriLineBytes,
} from "../../src/logs/cri-log-format.js";
import type { FormatOptions, LogStream } from "../../src/logs/cri-log-format.js";
import { MonotonicStamp, WallClock } from "../../src/logs/log-clock.js";
import { parseCriLog } from "./cri-log-reader.js";

const TS = "2024-05-01T10:00:00.123456789Z";

function fmt(input: string | Buffer, o: Partial<FormatOptions> = {}) {
  const options: FormatOptions = { stream: "stdout", timestamp: TS, maxLineBytes: DEFAULT_MAX_LINE_BYTES, final: false, ...o };
  return formatCriLog(typeof input === "string" ? Buffer.from(input, "latin1") : input, options);
}

/** (tag, content) pairs of formatted output, content as latin1 text. */
function lines(input: string | Buffer, o: Partial<FormatOptions> = {}): string[] {
  return parseCriLog(fmt(input, o).output).map((l) => `${l.tag}:${l.content.toString("latin1")}`);
}

describe("CRI log line format", () => {
  it("writes `<timestamp> <stream> F <content>` per line, for both streams", () => {
    assert.equal(fmt("hello\nworld\n").output.toString(), `${TS} stdout F hello\n${TS} stdout F world\n`);
    assert.equal(fmt("oops\n", { stream: "stderr" }).output.toString(), `${TS} stderr F oops\n`);
  });

  it("writes empty lines as F lines with no content", () => {
    assert.equal(fmt("\n\na\n").output.toString(), `${TS} stdout F \n${TS} stdout F \n${TS} stdout F a\n`);
  });

  it("cuts long lines into P partials of exactly the limit, ending in an F", () => {
    assert.deepEqual(lines("abcdefghij\n", { maxLineBytes: 4 }), ["P:abcd", "P:efgh", "F:ij"]);
    assert.deepEqual(lines("abcd\n", { maxLineBytes: 4 }), ["F:abcd"]);
    assert.deepEqual(lines("abcdefgh\n", { maxLineBytes: 4 }), ["P:abcd", "F:efgh"]);
    assert.deepEqual(lines("abcde\n", { maxLineBytes: 4 }), ["P:abcd", "F:e"]);
    const big = "x".repeat(DEFAULT_MAX_LINE_BYTES * 2 + 1);
    assert.deepEqual(
      lines(`${big}\n`).map((l) => `${l[0]}${l.length - 2}`),
      [`P${DEFAULT_MAX_LINE_BYTES}`, `P${DEFAULT_MAX_LINE_BYTES}`, "F1"],
    );
  });

  it("strips \\r\\n endings like containerd and keeps any other \\r", () => {
    assert.deepEqual(lines("a\r\nb\rc\n\r\n"), ["F:a", "F:b\rc", "F:"]);
    // The \r of a \r\n ending does not count towards the limit.
    assert.deepEqual(lines("abcd\r\n", { maxLineBytes: 4 }), ["F:abcd"]);
  });

  it("leaves an unterminated tail for later, but writes its full-size chunks", () => {
    assert.deepEqual(fmt("abc\nde").consumed, 4);
    assert.deepEqual(lines("abc\nde"), ["F:abc"]);
    const r = fmt("abcdefghij", { maxLineBytes: 4 });
    assert.equal(r.consumed, 8);
    assert.deepEqual(lines("abcdefghij", { maxLineBytes: 4 }), ["P:abcd", "P:efgh"]);
    // Exactly the limit, or the limit plus a \r that may begin \r\n: wait.
    assert.equal(fmt("abcd", { maxLineBytes: 4 }).consumed, 0);
    assert.equal(fmt("abcd\r", { maxLineBytes: 4 }).consumed, 0);
    assert.equal(fmt("abcde\r", { maxLineBytes: 4 }).consumed, 4);
  });

  it("writes the unterminated tail as P lines when the stream ended (containerd at EOF)", () => {
    assert.deepEqual(lines("abc\nde", { final: true }), ["F:abc", "P:de"]);
    assert.deepEqual(lines("ab\r", { final: true }), ["P:ab\r"]);
    assert.deepEqual(lines("abcdefghij", { final: true, maxLineBytes: 4 }), ["P:abcd", "P:efgh", "P:ij"]);
    assert.equal(fmt("", { final: true }).output.length, 0);
    assert.equal(fmt("a\n", { final: true }).output.toString(), `${TS} stdout F a\n`);
  });

  it("passes invalid UTF-8, NULs and escapes through as bytes", () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xc3, 0x28, 0x20, 0x20, 0x0a]);
    const out = parseCriLog(fmt(raw).output);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0].content, raw.subarray(0, raw.length - 1));
    // A cut may fall inside a multi-byte character: bytes, not characters, are counted.
    const euro = Buffer.from("€€\n"); // 3 bytes each
    const parts = parseCriLog(fmt(euro, { maxLineBytes: 4 }).output);
    assert.deepEqual(Buffer.concat(parts.map((p) => p.content)), Buffer.from("€€"));
    assert.deepEqual(parts.map((p) => p.content.length), [4, 2]);
  });

  it("stops when the output buffer is full and resumes where it stopped", () => {
    const opts: FormatOptions = { stream: "stderr", timestamp: TS, maxLineBytes: 8, final: false };
    const input = Buffer.from("one\ntwo\nthree-is-long\n\nfour\n");
    const out = Buffer.alloc(maxCriLineBytes(opts) + 10);
    const parts: Buffer[] = [];
    let at = 0;
    for (let i = 0; i < 100 && at < input.length; i++) {
      const r = formatCriLines(input.subarray(at), out, opts);
      assert.ok(r.consumed > 0);
      parts.push(Buffer.from(out.subarray(0, r.written)));
      at += r.consumed;
    }
    assert.deepEqual(Buffer.concat(parts), formatCriLog(input, opts).output);
  });

  it("refuses an output buffer that cannot hold one line and a zero limit", () => {
    const opts: FormatOptions = { stream: "stdout", timestamp: TS, maxLineBytes: 8, final: false };
    assert.throws(() => formatCriLines(Buffer.from("a\n"), Buffer.alloc(10), opts), RangeError);
    assert.throws(() => formatCriLines(Buffer.from("a\n"), Buffer.alloc(100), { ...opts, maxLineBytes: 0 }), RangeError);
  });

  it("gives the same lines however the output arrives in pieces (a model of containerd's logger)", () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = [0x61, 0x62, 0x0d, 0x0a, 0xff, 0x20];
    for (let round = 0; round < 300; round++) {
      const max = 1 + rand(6);
      const input = Buffer.from(Array.from({ length: rand(60) }, () => alphabet[rand(alphabet.length)]));
      const stream: LogStream = rand(2) ? "stdout" : "stderr";
      // Feed in random pieces, handing the unconsumed rest back each time.
      const opts: FormatOptions = { stream, timestamp: TS, maxLineBytes: max, final: false };
      let pending = Buffer.alloc(0);
      let at = 0;
      const got: Buffer[] = [];
      while (at < input.length) {
        const n = 1 + rand(8);
        pending = Buffer.concat([pending, input.subarray(at, at + n)]);
        at += n;
        const r = formatCriLog(pending, opts);
        got.push(r.output);
        pending = pending.subarray(r.consumed);
      }
      got.push(formatCriLog(pending, { ...opts, final: true }).output);
      assert.deepEqual(
        parseCriLog(Buffer.concat(got)).map((l) => `${l.tag}${l.content.toString("hex")}`),
        model(input, max),
        `input ${input.toString("hex")} max ${max}`,
      );
    }
  });
});

/** containerd's redirectLogs, reduced: lines without their \n or \r\n, cut at max; the unterminated rest all P. */
function model(input: Buffer, max: number): string[] {
  const out: string[] = [];
  let pos = 0;
  for (;;) {
    const nl = input.indexOf(0x0a, pos);
    if (nl < 0) {
      for (let p = pos; p < input.length; p += max) out.push(`P${input.subarray(p, Math.min(input.length, p + max)).toString("hex")}`);
      return out;
    }
    let end = nl;
    if (end > pos && input[end - 1] === 0x0d) end--;
    let p = pos;
    for (; end - p > max; p += max) out.push(`P${input.subarray(p, p + max).toString("hex")}`);
    out.push(`F${input.subarray(p, end).toString("hex")}`);
    pos = nl + 1;
  }
}

describe("CRI log timestamps", () => {
  it("are Go's RFC3339Nano in UTC: trailing zeros and an empty fraction dropped", () => {
    assert.equal(formatRfc3339Nano(0n), "1970-01-01T00:00:00Z");
    assert.equal(formatRfc3339Nano(1_500_000_000n), "1970-01-01T00:00:01.5Z");
    assert.equal(formatRfc3339Nano(1_714_557_600_123_456_789n), "2024-05-01T10:00:00.123456789Z");
    assert.equal(formatRfc3339Nano(1_714_557_600_000_000_100n), "2024-05-01T10:00:00.0000001Z");
  });

  it("follow the wall clock with sub-millisecond digits and never go back within a file", () => {
    let wall = 1_714_557_600_000;
    let mono = 5_000_000_000n;
    const clock = new WallClock(() => wall, () => mono);
    assert.equal(clock.nowNs(), 1_714_557_600_000_000_000n);
    mono += 250_000n;
    assert.equal(clock.nowNs(), 1_714_557_600_000_250_000n);
    const stamp = new MonotonicStamp(0n, clock);
    const a = stamp.next();
    wall -= 10_000; // the system clock steps back 10 s
    mono += 1_000n;
    assert.equal(clock.nowNs(), 1_714_557_590_000_000_000n, "the clock re-anchors to the stepped wall clock");
    assert.equal(stamp.next(), a, "but a file's timestamps hold still instead of going back");
  });
});
