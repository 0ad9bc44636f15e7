/**
 * SPDY pieces on their own: the dictionary, frame cutting, header blocks
 * (our stored-block writer read back by real zlib, real zlib read by ours).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createDeflate, inflateSync, constants as zlibConstants } from "node:zlib";
import { SPDY3_DICTIONARY } from "../../src/streaming/spdy/dictionary.js";
import {
  FLAG_FIN,
  FrameParser,
  dataFrameHead,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
} from "../../src/streaming/spdy/frames.js";
import { HeaderBlockDecoder, HeaderBlockEncoder, parseHeaders, serializeHeaders } from "../../src/streaming/spdy/header-block.js";

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of buf) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

describe("SPDY/3 dictionary", () => {
  it("is the draft's 1423 bytes (Adler-32 as Go's spdy package)", () => {
    assert.equal(SPDY3_DICTIONARY.length, 1423);
    assert.equal(adler32(SPDY3_DICTIONARY), 3821447106);
  });
});

describe("frames", () => {
  it("cuts frames at any chunk boundary", () => {
    const bytes = Buffer.concat([
      encodeSynStream(1, FLAG_FIN, Buffer.from("hdr"), 3),
      Buffer.concat([dataFrameHead(1, 0, 5), Buffer.from("hello")]),
      encodeRstStream(3, 5),
      encodePing(7),
      encodeGoAway(5, 0),
      encodeSettings([{ id: 7, value: 65536 }]),
      encodeWindowUpdate(1, 100),
      encodeSynReply(1, 0, Buffer.from("r")),
    ]);
    for (const step of [1, 3, 8, 1000]) {
      const parser = new FrameParser();
      const frames = [];
      for (let o = 0; o < bytes.length; o += step) frames.push(...parser.push(bytes.subarray(o, o + step)));
      assert.deepEqual(
        frames.map((f) => f.type),
        ["syn_stream", "data", "rst_stream", "ping", "goaway", "settings", "window_update", "syn_reply"],
      );
      const syn = frames[0] as Extract<(typeof frames)[0], { type: "syn_stream" }>;
      assert.equal(syn.streamId, 1);
      assert.equal(syn.priority, 3);
      assert.equal(syn.flags, FLAG_FIN);
      assert.equal(syn.headerBlock.toString(), "hdr");
      assert.equal((frames[1] as { data: Buffer }).data.toString(), "hello");
      assert.deepEqual(frames[5], { type: "settings", flags: 0, entries: [{ flags: 0, id: 7, value: 65536 }] });
    }
  });

  it("refuses other SPDY versions", () => {
    const bad = encodePing(1);
    bad.writeUInt16BE(0x8002, 0);
    assert.throws(() => new FrameParser().push(bad), /unsupported SPDY version 2/);
  });
});

describe("header blocks", () => {
  it("serializes and parses, joining repeated names with NUL", () => {
    const raw = serializeHeaders({ streamtype: "error", Port: "80" });
    assert.deepEqual(parseHeaders(raw), { streamtype: "error", port: "80" });
  });

  it("our blocks are one zlib stream that zlib inflates, each ending in the sync-flush marker", () => {
    const enc = new HeaderBlockEncoder();
    const a = enc.encode({ streamtype: "stdout" });
    const b = enc.encode({ x: "y".repeat(70000) });
    // Go's flate reader releases a block's bytes only at the next block header (client-go needs it).
    for (const block of [a, b]) assert.equal(block.subarray(-5).toString("hex"), "000000ffff");
    const out = inflateSync(Buffer.concat([a, b]), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const first = serializeHeaders({ streamtype: "stdout" });
    assert.deepEqual(parseHeaders(out.subarray(0, first.length)), { streamtype: "stdout" });
    assert.equal(parseHeaders(out.subarray(first.length)).x.length, 70000);
  });

  it("reads blocks compressed with the dictionary, context kept across blocks", async () => {
    const deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
    const compress = (h: Record<string, string>) =>
      new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const on = (c: Buffer) => chunks.push(c);
        deflate.on("data", on);
        deflate.write(serializeHeaders(h));
        deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
          deflate.off("data", on);
          resolve(Buffer.concat(chunks));
        });
      });
    const blocks = [];
    for (let i = 0; i < 5; i++) blocks.push(await compress({ streamtype: "data", port: "8080", requestid: String(i) }));
    const dec = new HeaderBlockDecoder();
    const got = await Promise.all(blocks.map((b) => dec.decode(b)));
    got.forEach((h, i) => assert.deepEqual(h, { streamtype: "data", port: "8080", requestid: String(i) }));
    await assert.rejects(dec.decode(Buffer.from("garbage!")), /does not inflate/);
    dec.close();
  });
});
