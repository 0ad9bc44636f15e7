/**
 * A bare HTTP/2 client that writes frames by hand, for testing what real gRPC
 * clients put on the wire that Node's own client never would (a raw socket path
 * as :authority, Huffman-coded and indexed the way grpc-go does it).
 */
import { connect } from "node:net";
import type { Socket } from "node:net";
import { HpackDecoder, writeInt, writeString } from "../../src/cri/h2/hpack-decode.js";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../src/cri/h2/hpack-tables.js";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export function frameBytes(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

export function huffmanEncode(s: string): Buffer {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0n;
  for (const ch of Buffer.from(s, "latin1")) {
    acc = (acc << BigInt(HUFFMAN_LENGTHS[ch])) | BigInt(HUFFMAN_CODES[ch]);
    bits += BigInt(HUFFMAN_LENGTHS[ch]);
    while (bits >= 8n) {
      bits -= 8n;
      out.push(Number((acc >> bits) & 0xffn));
    }
  }
  if (bits > 0n) out.push(Number(((acc << (8n - bits)) | ((1n << (8n - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

/** A literal field with incremental indexing and a Huffman-coded value, as grpc-go writes :authority. */
export function literalIndexedHuffman(nameIndex: number, value: string): Buffer {
  const v = huffmanEncode(value);
  return Buffer.concat([Buffer.from(writeInt(nameIndex, 6, 0x40)), Buffer.from(writeInt(v.length, 7, 0x80)), v]);
}

/** A literal field without indexing and with a literal name. */
export function literalPlain(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), writeString(name), writeString(value)]);
}

export function indexed(index: number): Buffer {
  return Buffer.from(writeInt(index, 7, 0x80));
}

export interface RawResponse {
  headers: Array<[string, string]>;
  data: Buffer;
  trailers: Array<[string, string]>;
  reset?: number;
}

/** One HTTP/2 connection; send header blocks and read responses per stream. */
export class RawH2 {
  private sock: Socket;
  private buf = Buffer.alloc(0);
  private decoder = new HpackDecoder();
  private streams = new Map<number, RawResponse & { done: boolean }>();
  private waiters: Array<() => void> = [];

  constructor(path: string) {
    this.sock = connect(path);
    this.sock.write(PREFACE);
    this.sock.write(frameBytes(0x4, 0, 0, Buffer.alloc(0)));
    this.sock.on("data", (c) => this.onData(c));
    this.sock.on("error", () => {});
  }

  /** Sends a gRPC request whose header block is given; the body is one gRPC message. */
  request(streamId: number, headerBlock: Buffer, message: Buffer): void {
    const grpcFrame = Buffer.alloc(5 + message.length);
    grpcFrame.writeUInt32BE(message.length, 1);
    message.copy(grpcFrame, 5);
    this.streams.set(streamId, { headers: [], data: Buffer.alloc(0), trailers: [], done: false });
    this.sock.write(frameBytes(0x1, 0x4, streamId, headerBlock));
    this.sock.write(frameBytes(0x0, 0x1, streamId, grpcFrame));
  }

  async response(streamId: number, timeoutMs = 5000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.streams.get(streamId);
      if (s?.done) return s;
      if (Date.now() > deadline) throw new Error(`no response on stream ${streamId}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const type = this.buf[3];
      const flags = this.buf[4];
      const id = this.buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buf.subarray(9, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      const s = this.streams.get(id);
      if (type === 0x4 && !(flags & 0x1)) this.sock.write(frameBytes(0x4, 0x1, 0, Buffer.alloc(0)));
      if (!s) continue;
      if (type === 0x1) {
        const fields = this.decoder.decode(payload).map((f) => [f.name, f.value] as [string, string]);
        if (s.headers.length === 0) s.headers = fields;
        else s.trailers = fields;
        if (flags & 0x1) s.done = true;
      } else if (type === 0x0) {
        s.data = Buffer.concat([s.data, payload]);
        if (flags & 0x1) s.done = true;
      } else if (type === 0x3) {
        s.reset = payload.readUInt32BE(0);
        s.done = true;
      }
    }
    for (const w of this.waiters.splice(0)) w();
  }
}
