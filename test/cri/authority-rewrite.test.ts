import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder, huffmanDecode } from "../../src/cri/h2/hpack-decode.js";
import { AuthorityRewriter, sanitiseAuthority } from "../../src/cri/h2/authority-rewrite.js";
import { PREFACE, frameBytes, huffmanEncode, indexed, literalIndexedHuffman, literalPlain } from "../helpers/raw-h2.js";

describe("HPACK decoding", () => {
  test("RFC 7541 C.4.1: Huffman-coded www.example.com", () => {
    assert.equal(huffmanDecode(Buffer.from("f1e3c2e5f23a6ba0ab90f4ff", "hex")), "www.example.com");
  });

  test("RFC 7541 C.3: three requests sharing a dynamic table", () => {
    const d = new HpackDecoder();
    const names = (hex: string) => d.decode(Buffer.from(hex, "hex")).map((f) => `${f.name}=${f.value}`);
    assert.deepEqual(names("828684410f7777772e6578616d706c652e636f6d"), [
      ":method=GET", ":scheme=http", ":path=/", ":authority=www.example.com",
    ]);
    assert.deepEqual(names("828684be58086e6f2d6361636865"), [
      ":method=GET", ":scheme=http", ":path=/", ":authority=www.example.com", "cache-control=no-cache",
    ]);
    assert.deepEqual(names("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"), [
      ":method=GET", ":scheme=https", ":path=/index.html", ":authority=www.example.com", "custom-key=custom-value",
    ]);
  });

  test("round trip through the test encoder", () => {
    const s = "/run/portoshim.sock";
    assert.equal(huffmanDecode(huffmanEncode(s)), s);
  });
});

describe("authority rewriting", () => {
  test("sanitising keeps usable values and the length of unusable ones", () => {
    assert.equal(sanitiseAuthority("localhost"), "localhost");
    assert.equal(sanitiseAuthority("localhost:1234"), "localhost:1234");
    assert.equal(sanitiseAuthority("/run/portoshim.sock"), "_run_portoshim.sock");
    assert.equal(sanitiseAuthority("%2Frun%2Fportoshim.sock"), "_2Frun_2Fportoshim.sock");
  });

  function run(chunks: Buffer[]) {
    const rw = new AuthorityRewriter();
    const out = Buffer.concat(chunks.flatMap((c) => rw.push(c)));
    return { rw, out };
  }

  test("a valid stream passes through byte for byte, however it is split", () => {
    const block = Buffer.concat([indexed(3), literalPlain(":authority", "localhost")]);
    const input = Buffer.concat([PREFACE, frameBytes(4, 0, 0, Buffer.alloc(0)), frameBytes(1, 4, 1, block), frameBytes(0, 1, 1, Buffer.from("hello"))]);
    for (const size of [1, 7, 9, 1000]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
      const { rw, out } = run(chunks);
      assert.deepEqual(out, input);
      assert.equal(rw.rewritten, 0);
    }
  });

  test("a raw path split over HEADERS + CONTINUATION, padded and prioritised, becomes one clean HEADERS", () => {
    const block = Buffer.concat([indexed(3), literalIndexedHuffman(1, "/run/portoshim.sock"), literalPlain("te", "trailers")]);
    const a = block.subarray(0, 4);
    const b = block.subarray(4);
    const headersPayload = Buffer.concat([Buffer.from([2]), Buffer.from([0, 0, 0, 0, 16]), a, Buffer.alloc(2)]);
    const input = Buffer.concat([PREFACE, frameBytes(1, 0x8 | 0x20 | 0x1, 1, headersPayload), frameBytes(9, 4, 1, b)]);
    const { rw, out } = run([input]);
    assert.equal(rw.rewritten, 1);
    const frame = out.subarray(PREFACE.length);
    assert.equal(frame[3], 1);
    assert.equal(frame[4], 0x4 | 0x20 | 0x1, "END_HEADERS, PRIORITY and END_STREAM kept, PADDED dropped");
    assert.equal(frame.readUIntBE(0, 3), frame.length - 9);
    const fields = new HpackDecoder().decode(frame.subarray(9 + 5));
    assert.deepEqual(fields.map((f) => [f.name, f.value]), [[":method", "POST"], [":authority", "_run_portoshim.sock"], ["te", "trailers"]]);
  });

  test("not HTTP/2 at all is passed on untouched for nghttp2 to refuse", () => {
    const input = Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.deepEqual(run([input]).out, input);
  });
});
