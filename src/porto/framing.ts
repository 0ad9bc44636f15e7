/**
 * Porto's wire framing: every message, in both directions, is a protobuf varint
 * holding the length, followed by that many bytes of protobuf.
 *
 * Written here rather than taken from a library because it is twenty lines and
 * the streaming reader below must never copy a large reply more than once.
 */

/** portod refuses (and never sends) messages larger than this. */
export const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

/** Prefixes `payload` with its varint length. */
export function frame(payload: Uint8Array): Buffer {
  const head: number[] = [];
  let n = payload.length;
  while (n >= 0x80) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  const out = Buffer.allocUnsafe(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** Raised when the peer sends a length we will not accept. */
export class FramingError extends Error {
  override name = "FramingError";
}

/**
 * Reassembles frames from a byte stream. Feed it socket chunks with `push`;
 * it returns every complete message the chunks finished.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes = MAX_MESSAGE_BYTES) {}

  push(chunk: Buffer): Uint8Array[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Uint8Array[] = [];
    for (;;) {
      const header = this.peekHeader();
      if (header === undefined) break;
      const [len, headLen] = header;
      if (len > this.maxBytes) {
        throw new FramingError(`message of ${len} bytes exceeds the ${this.maxBytes} byte limit`);
      }
      if (this.buffered < headLen + len) break;
      const all = this.take(headLen + len);
      out.push(all.subarray(headLen));
    }
    return out;
  }

  /** Bytes received that do not yet form a whole message. */
  get pending(): number {
    return this.buffered;
  }

  private peekHeader(): [number, number] | undefined {
    let value = 0;
    let shift = 0;
    let pos = 0;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        value += (b & 0x7f) * 2 ** shift;
        pos++;
        if ((b & 0x80) === 0) return [value, pos];
        shift += 7;
        if (shift > 35) throw new FramingError("length varint is too long");
      }
    }
    return undefined;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.chunks, this.buffered);
      out = joined.subarray(0, n);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
