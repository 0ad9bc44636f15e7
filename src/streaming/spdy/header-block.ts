/**
 * SPDY/3 header blocks: name/value pairs compressed with one zlib context per
 * direction for the whole connection, seeded with the SPDY dictionary.
 *
 *   uint32 count, then per pair: uint32 len, name (lower case), uint32 len, value
 *   (several values of one name are joined with NUL)
 *
 * Reading inflates with node:zlib. Its streaming API is asynchronous, so
 * blocks are decoded strictly one after another (the context is shared) and
 * the connection holds later frames back until a block is done.
 *
 * Writing emits the block as stored (uncompressed) deflate blocks after a
 * zlib header without FDICT, each block closed by an empty stored block, the
 * marker zlib's Z_SYNC_FLUSH writes. That is a valid continuation of one zlib
 * stream, which is all a peer's inflater needs (Go's zlib reader uses the
 * dictionary only when FDICT is set), and it is synchronous: a SYN_REPLY is on
 * the wire before the stream's first DATA frame without any queueing. Server
 * headers are a few bytes per stream, so compression would buy nothing. The
 * marker is not optional: Go's flate reader hands out a stored block's bytes
 * only when it reads the next block's header, so without it client-go reads
 * past the frame and its header reader fails for good (seen with crictl).
 */
import { createInflate, constants as zlibConstants } from "node:zlib";
import type { Inflate } from "node:zlib";
import { SPDY3_DICTIONARY } from "./dictionary.js";
import { SpdyProtocolError } from "./frames.js";

/** Header names (lower case) to values; several values of one name are NUL-joined, as on the wire. */
export type SpdyHeaders = Record<string, string>;

/** Largest decoded header block accepted; kubelet's are tens of bytes. */
const MAX_DECODED_BLOCK = 256 * 1024;

export function serializeHeaders(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, value] of entries) {
    for (const s of [name.toLowerCase(), value]) {
      const bytes = Buffer.from(s, "utf8");
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

export function parseHeaders(buf: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  let o = 0;
  const u32 = () => {
    if (o + 4 > buf.length) throw new SpdyProtocolError("truncated header block");
    const v = buf.readUInt32BE(o);
    o += 4;
    return v;
  };
  const str = () => {
    const n = u32();
    if (o + n > buf.length) throw new SpdyProtocolError("truncated header block");
    const s = buf.toString("utf8", o, o + n);
    o += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const value = str();
    out[name] = name in out ? `${out[name]}\0${value}` : value;
  }
  return out;
}

const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/** Writes header blocks as stored deflate blocks of one zlib stream (see the module comment). */
export class HeaderBlockEncoder {
  private started = false;

  encode(headers: SpdyHeaders): Buffer {
    const raw = serializeHeaders(headers);
    const parts: Buffer[] = [];
    if (!this.started) {
      // CMF 0x78 (deflate, 32 KiB window), FLG 0x01: no FDICT, check bits make 0x7801 % 31 == 0.
      parts.push(Buffer.from([0x78, 0x01]));
      this.started = true;
    }
    for (let o = 0; o < raw.length; o += 0xffff) {
      const piece = raw.subarray(o, Math.min(raw.length, o + 0xffff));
      const head = Buffer.alloc(5);
      head[0] = 0x00; // BFINAL=0, BTYPE=00 (stored); the stream goes on with the next block
      head.writeUInt16LE(piece.length, 1);
      head.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(head, piece);
    }
    // The sync-flush marker: an empty stored block, so the reader releases what came before.
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

/** Inflates a connection's header blocks in order. */
export class HeaderBlockDecoder {
  private readonly inflate: Inflate;
  private tail: Promise<unknown> = Promise.resolve();
  private failed: Error | undefined;

  constructor() {
    this.inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
    this.inflate.on("error", (err) => {
      this.failed = new SpdyProtocolError(`header block does not inflate: ${err.message}`);
    });
  }

  /** Decodes one block; calls run strictly in the order they were made. */
  decode(block: Buffer): Promise<SpdyHeaders> {
    const next = this.tail.then(() => this.decodeOne(block));
    this.tail = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.inflate.close();
  }

  private decodeOne(block: Buffer): Promise<SpdyHeaders> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
      };
      let done = false;
      const onError = () => finish();
      const finish = () => {
        if (done) return;
        done = true;
        this.inflate.off("data", onData);
        this.inflate.off("error", onError);
        if (this.failed) return reject(this.failed);
        if (size > MAX_DECODED_BLOCK) return reject(new SpdyProtocolError(`header block of ${size} bytes`));
        try {
          resolve(parseHeaders(Buffer.concat(chunks, size)));
        } catch (err) {
          reject(err);
        }
      };
      this.inflate.on("data", onData);
      this.inflate.once("error", onError);
      this.inflate.write(block);
      this.inflate.flush(zlibConstants.Z_SYNC_FLUSH, finish);
    });
  }
}
