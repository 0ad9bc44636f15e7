/** Protobuf's UTF-8 through Buffer gives the bytes and strings TextEncoder/TextDecoder give. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ContainerMetadataSchema } from "../gen/runtime/v1/api_pb.js";
import { useNodeTextEncoding } from "../src/text-encoding.js";

const samples = ["", "nginx", "кириллица", "日本語", "emoji 🚀", "lone \ud800 surrogate", "x".repeat(70_000)];

test("encoding and decoding agree with the WHATWG Text Encoding API, lone surrogates included", () => {
  const before = samples.map((name) => toBinary(ContainerMetadataSchema, create(ContainerMetadataSchema, { name, attempt: 3 })));
  useNodeTextEncoding();
  samples.forEach((name, i) => {
    const bytes = toBinary(ContainerMetadataSchema, create(ContainerMetadataSchema, { name, attempt: 3 }));
    assert.deepEqual(Buffer.from(bytes), Buffer.from(before[i]!), JSON.stringify(name.slice(0, 20)));
    const back = fromBinary(ContainerMetadataSchema, bytes);
    assert.equal(back.name, new TextDecoder().decode(new TextEncoder().encode(name)));
    assert.equal(back.attempt, 3);
  });
});

test("a string field with invalid UTF-8 is refused as before (strict decoding stays the library's), and a view into a larger buffer decodes", () => {
  useNodeTextEncoding();
  // field 1 (name), length 3: 'a', an invalid byte, 'b'; padded on both sides.
  const padded = new Uint8Array([9, 9, 0x0a, 3, 0x61, 0xff, 0x62, 9]);
  assert.throws(() => fromBinary(ContainerMetadataSchema, padded.subarray(2, 7)), /not valid|invalid/i);
  const ok = new Uint8Array([9, 0x0a, 2, 0xc3, 0xa9, 9]);
  assert.equal(fromBinary(ContainerMetadataSchema, ok.subarray(1, 5)).name, "é");
});
