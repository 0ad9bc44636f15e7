/**
 * An HPACK (RFC 7541) decoder that, besides each header field, reports where its
 * representation lies in the block. authority-rewrite.ts needs both: the names to
 * find `:authority` (a literal may name it through the dynamic table) and the
 * offsets to patch its value in place.
 *
 * Hand-written because the one JavaScript HPACK library (hpack.js) has had no
 * release since 2016 and exposes neither offsets nor a synchronous API; this is
 * the decoding half only, driven by the RFC's tables in hpack-tables.ts.
 * Strings are handled as latin1 so that one character is one octet: HPACK sizes
 * its dynamic table in octets.
 */
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from "./hpack-tables.js";

/** One decoded header field and where it was found in the block. */
export interface HeaderField {
  name: string;
  value: string;
  /** Offset of the field's first octet in the block. */
  start: number;
  /** Offset just past the field. */
  end: number;
  /**
   * For a literal field, the offset where its value string (length prefix
   * included) starts; undefined for an indexed field, whose value lives in a table.
   */
  valueStart?: number;
}

export class HpackError extends Error {
  override name = "HpackError";
}

/** Decodes successive header blocks of one connection direction. */
export class HpackDecoder {
  private dynamic: Array<[string, string]> = [];
  private size = 0;

  /** @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE we advertised (4096 unless changed). */
  constructor(private maxTableSize = 4096) {}

  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    let pos = 0;
    while (pos < block.length) {
      const start = pos;
      const b = block[pos];
      if (b & 0x80) {
        // Indexed header field.
        const [index, next] = readInt(block, pos, 7);
        const [name, value] = this.entry(index);
        fields.push({ name, value, start, end: next });
        pos = next;
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update.
        const [size, next] = readInt(block, pos, 5);
        if (size > this.maxTableSize) throw new HpackError(`table size ${size} above the limit`);
        this.maxTableSize = size;
        this.evict(0);
        pos = next;
      } else {
        // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const [index, afterIndex] = readInt(block, pos, indexing ? 6 : 4);
        let name: string;
        pos = afterIndex;
        if (index === 0) {
          [name, pos] = readString(block, pos);
        } else {
          name = this.entry(index)[0];
        }
        const valueStart = pos;
        let value: string;
        [value, pos] = readString(block, pos);
        if (indexing) this.add(name, value);
        fields.push({ name, value, start, end: pos, valueStart });
      }
    }
    return fields;
  }

  private entry(index: number): readonly [string, string] {
    if (index <= 0) throw new HpackError("index 0 is not a header");
    if (index < STATIC_TABLE.length) return STATIC_TABLE[index];
    const entry = this.dynamic[index - STATIC_TABLE.length];
    if (!entry) throw new HpackError(`index ${index} is past the dynamic table`);
    return entry;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    if (size <= this.maxTableSize) {
      this.dynamic.unshift([name, value]);
      this.size += size;
    }
  }

  /** Drops the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.maxTableSize) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

/** Reads an HPACK integer with an N-bit prefix; returns [value, next offset]. */
export function readInt(buf: Uint8Array, pos: number, prefixBits: number): [number, number] {
  if (pos >= buf.length) throw new HpackError("truncated integer");
  const max = (1 << prefixBits) - 1;
  let value = buf[pos++] & max;
  if (value < max) return [value, pos];
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new HpackError("truncated integer");
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 28) throw new HpackError("integer too large");
  }
}

/** Writes an HPACK integer whose first octet carries `flags` above an N-bit prefix. */
export function writeInt(value: number, prefixBits: number, flags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

/** Encodes `s` (latin1) as a plain, non-Huffman HPACK string literal. */
export function writeString(s: string): Buffer {
  return Buffer.concat([Buffer.from(writeInt(s.length, 7, 0)), Buffer.from(s, "latin1")]);
}

function readString(buf: Uint8Array, pos: number): [string, number] {
  const huffman = (buf[pos] & 0x80) !== 0;
  const [len, start] = readInt(buf, pos, 7);
  const end = start + len;
  if (end > buf.length) throw new HpackError("truncated string");
  const bytes = buf.subarray(start, end);
  const text = huffman ? huffmanDecode(bytes) : Buffer.from(bytes).toString("latin1");
  return [text, end];
}

/**
 * The Huffman code as a binary tree in a flat array: node i has children at
 * tree[2i] (bit 0) and tree[2i+1] (bit 1); a negative entry -(sym+1) is a leaf.
 */
let tree: Int32Array | undefined;

function huffmanTree(): Int32Array {
  if (tree) return tree;
  const t = new Int32Array(2 * 512).fill(0);
  let nodes = 1;
  for (let sym = 0; sym < 256; sym++) {
    const code = HUFFMAN_CODES[sym];
    const len = HUFFMAN_LENGTHS[sym];
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) {
        t[slot] = -(sym + 1);
      } else {
        if (t[slot] === 0) t[slot] = nodes++;
        node = t[slot];
      }
    }
  }
  tree = t;
  return t;
}

export function huffmanDecode(bytes: Uint8Array): string {
  const t = huffmanTree();
  let out = "";
  let node = 0;
  let depth = 0;
  for (const byte of bytes) {
    for (let i = 7; i >= 0; i--) {
      const next = t[2 * node + ((byte >>> i) & 1)];
      if (next < 0) {
        out += String.fromCharCode(-next - 1);
        node = 0;
        depth = 0;
      } else if (next === 0) {
        throw new HpackError("invalid Huffman code");
      } else {
        node = next;
        depth++;
      }
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (depth > 7) throw new HpackError("Huffman padding longer than 7 bits");
  return out;
}
