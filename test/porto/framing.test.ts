import { test } from "node:test";
import assert from "node:assert/strict";
import { frame, FrameReader, FramingError, MAX_MESSAGE_BYTES } from "../../src/porto/framing.js";

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

test("frame prefixes the varint length", () => {
  assert.deepEqual([...frame(new Uint8Array([7, 8, 9]))], [3, 7, 8, 9]);
  const big = frame(bytes(300));
  assert.deepEqual([...big.subarray(0, 2)], [0xac, 0x02]); // 300 = 0b10_0101100
  assert.equal(big.length, 302);
});

test("a message split into single bytes, header included, comes out whole and once", () => {
  const payload = bytes(200); // two-byte header
  const wire = frame(payload);
  const reader = new FrameReader();
  const got: Uint8Array[] = [];
  for (let i = 0; i < wire.length; i++) got.push(...reader.push(wire.subarray(i, i + 1)));
  assert.equal(got.length, 1);
  assert.deepEqual([...got[0]], [...payload]);
  assert.equal(reader.pending, 0);
});

test("many messages in one chunk, the last one cut short, come out in order", () => {
  const payloads = [bytes(1, 1), bytes(0), bytes(130, 2), bytes(5, 3)];
  const wire = Buffer.concat([...payloads.map((p) => frame(p)), frame(bytes(10, 4)).subarray(0, 4)]);
  const reader = new FrameReader();
  const got = reader.push(wire);
  assert.deepEqual(
    got.map((m) => [...m]),
    payloads.map((p) => [...p]),
  );
  assert.equal(reader.pending, 4);
  const rest = reader.push(frame(bytes(10, 4)).subarray(4));
  assert.equal(rest.length, 1);
  assert.deepEqual([...rest[0]], [...bytes(10, 4)]);
});

test("a large message in uneven chunks is reassembled", () => {
  const payload = bytes(1 << 20, 9);
  const wire = frame(payload);
  const reader = new FrameReader();
  const got: Uint8Array[] = [];
  for (let off = 0, step = 1; off < wire.length; off += step, step = step * 3 + 1) {
    got.push(...reader.push(wire.subarray(off, off + step)));
  }
  assert.equal(got.length, 1);
  assert.ok(Buffer.from(got[0]).equals(Buffer.from(payload)));
});

test("a length over 32 MiB is refused from the header alone", () => {
  const lenVarint: number[] = [];
  let n = MAX_MESSAGE_BYTES + 1;
  while (n >= 0x80) {
    lenVarint.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  lenVarint.push(n);
  const reader = new FrameReader();
  assert.throws(() => reader.push(Buffer.from(lenVarint)), FramingError);
});

test("exactly 32 MiB is accepted", () => {
  const reader = new FrameReader();
  const wire = frame(new Uint8Array(MAX_MESSAGE_BYTES));
  const got = reader.push(wire);
  assert.equal(got.length, 1);
  assert.equal(got[0].length, MAX_MESSAGE_BYTES);
});

test("a length varint longer than any 32-bit length is refused", () => {
  const reader = new FrameReader();
  assert.throws(() => reader.push(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80])), FramingError);
});
