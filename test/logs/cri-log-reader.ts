/**
 * Reads CRI log files the way kubelet does (pkg/kubelet/kuberuntime/logs
 * parseCRILog): split on "\n", then the first three spaces; the timestamp must
 * parse as RFC3339Nano, the stream must be stdout or stderr, a P line's
 * content is printed without a newline and an F line's with one. Strict: a
 * line kubelet would skip fails the test instead.
 */
import assert from "node:assert/strict";

export interface CriLine {
  timestamp: string;
  /** Nanoseconds since the epoch, from the timestamp. */
  ns: bigint;
  stream: "stdout" | "stderr";
  tag: "F" | "P";
  content: Buffer;
}

const RFC3339NANO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

export function parseCriLine(line: Buffer): CriLine {
  const s1 = line.indexOf(0x20);
  assert.ok(s1 > 0, `timestamp is not found: ${JSON.stringify(line.toString("latin1"))}`);
  const timestamp = line.subarray(0, s1).toString("latin1");
  const m = RFC3339NANO.exec(timestamp);
  assert.ok(m, `unexpected timestamp format ${timestamp}`);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const ns = BigInt(ms) * 1_000_000n + BigInt((m[7] ?? "").padEnd(9, "0") || "0");
  const s2 = line.indexOf(0x20, s1 + 1);
  assert.ok(s2 > 0, "stream type is not found");
  const stream = line.subarray(s1 + 1, s2).toString("latin1");
  assert.ok(stream === "stdout" || stream === "stderr", `unexpected stream type ${stream}`);
  const s3 = line.indexOf(0x20, s2 + 1);
  assert.ok(s3 > 0, "log tag is not found");
  const tag = line.subarray(s2 + 1, s3).toString("latin1").split(":")[0];
  assert.ok(tag === "F" || tag === "P", `unexpected tag ${tag}`);
  return { timestamp, ns, stream, tag, content: Buffer.from(line.subarray(s3 + 1)) };
}

/** Every line of a CRI log file; the file must end with a newline. */
export function parseCriLog(data: Buffer): CriLine[] {
  if (data.length === 0) return [];
  assert.equal(data[data.length - 1], 0x0a, "the log ends in the middle of a line");
  const out: CriLine[] = [];
  let pos = 0;
  while (pos < data.length) {
    const nl = data.indexOf(0x0a, pos);
    out.push(parseCriLine(data.subarray(pos, nl)));
    pos = nl + 1;
  }
  return out;
}

/** What `kubectl logs` prints for one stream: P content as is, F content plus "\n". */
export function streamText(lines: CriLine[], stream: "stdout" | "stderr"): Buffer {
  const parts: Buffer[] = [];
  for (const l of lines) {
    if (l.stream !== stream) continue;
    parts.push(l.content);
    if (l.tag === "F") parts.push(Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}
