/**
 * Makes requests with a raw socket path as `:authority` acceptable to Node.
 *
 * grpc-go up to about 1.52 (crictl 1.26, kubelets of that era) sends the unix
 * socket path itself, e.g. `:authority: /run/portoshim.sock`. nghttp2, inside
 * Node's HTTP/2 server, validates the authority and resets such a stream with
 * PROTOCOL_ERROR before any JavaScript sees it, so no request handler can help.
 * Other clients percent-encode the path (`%2Frun%2Fportoshim.sock`), which
 * nghttp2 lets through but connect-node cannot turn into a URL. The fix has to
 * sit between the socket and nghttp2: this module watches the bytes a client
 * sends, decodes each header block, and where an `:authority` literal is not a
 * usable host, replaces every character but letters, digits, `.`, `-` and `_`
 * with `_` (`/run/portoshim.sock` becomes `_run_portoshim.sock`).
 *
 * The replacement keeps the value's length, so both HPACK dynamic tables (the
 * client's encoder and nghttp2's decoder) keep identical sizes and indices; later
 * requests that refer to the entry by index get the sanitised value. The value is
 * rewritten as a plain literal, so the frame may shrink or grow by a few octets.
 * Nothing else in the stream is touched; connections from clients that send a
 * valid authority pass through byte for byte.
 */
import { HpackDecoder, writeString } from "./hpack-decode.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/** Characters nghttp2 accepts in `:authority` (its VALID_AUTHORITY_CHARS). */
const NGHTTP2_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;

/** True when both nghttp2 and a URL parser (connect-node builds one) accept `value`. */
export function isUsableAuthority(value: string): boolean {
  if (!NGHTTP2_AUTHORITY.test(value)) return false;
  try {
    new URL(`http://${value}/`);
    return true;
  } catch {
    return false;
  }
}

/** `value` if usable, else a same-length host name made of its safe characters. */
export function sanitiseAuthority(value: string): string {
  return isUsableAuthority(value) ? value : value.replace(/[^A-Za-z0-9._-]/g, "_");
}

interface PendingBlock {
  streamId: number;
  flags: number;
  priority?: Buffer;
  fragments: Buffer[];
  frames: Buffer[];
}

/**
 * A push parser over the client-to-server byte stream. `push` returns the bytes
 * to hand to the HTTP/2 server, in order. Malformed input is passed through
 * unchanged once detected, for nghttp2 to reject with the right error.
 */
export class AuthorityRewriter {
  private buffer: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private passthrough = false;
  private readonly decoder = new HpackDecoder();
  private pending: PendingBlock | undefined;
  /** Number of header blocks rewritten; for tests and debug logging. */
  rewritten = 0;

  push(chunk: Buffer): Buffer[] {
    if (this.passthrough) return [chunk];
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const out: Buffer[] = [];
    if (!this.prefaceSeen) {
      if (this.buffer.length < PREFACE.length) return out;
      const head = this.buffer.subarray(0, PREFACE.length);
      if (!head.equals(PREFACE)) return this.giveUp(out);
      out.push(head);
      this.buffer = this.buffer.subarray(PREFACE.length);
      this.prefaceSeen = true;
    }
    let pass = 0; // start of bytes that can be forwarded untouched
    let pos = 0;
    while (this.buffer.length - pos >= FRAME_HEADER) {
      const len = this.buffer.readUIntBE(pos, 3);
      const end = pos + FRAME_HEADER + len;
      if (this.buffer.length < end) break;
      const type = this.buffer[pos + 3];
      if (type === TYPE_HEADERS || type === TYPE_CONTINUATION || this.pending) {
        if (pos > pass) out.push(this.buffer.subarray(pass, pos));
        const frame = this.buffer.subarray(pos, end);
        try {
          const emitted = this.headerFrame(frame);
          if (emitted) out.push(emitted);
        } catch {
          // Not ours to judge: let nghttp2 see the original bytes and fail it.
          if (this.pending) out.push(...this.pending.frames);
          this.pending = undefined;
          out.push(this.buffer.subarray(pos));
          this.buffer = Buffer.alloc(0);
          this.passthrough = true;
          return out;
        }
        pass = end;
      }
      pos = end;
    }
    if (pos > pass) out.push(this.buffer.subarray(pass, pos));
    // Copy the tail so that the large chunk it came from can be collected.
    this.buffer = Buffer.from(this.buffer.subarray(pos));
    return out;
  }

  private giveUp(out: Buffer[]): Buffer[] {
    out.push(this.buffer);
    this.buffer = Buffer.alloc(0);
    this.passthrough = true;
    return out;
  }

  /** Collects a header block; returns what to forward once it is complete. */
  private headerFrame(frame: Buffer): Buffer | undefined {
    const type = frame[3];
    const flags = frame[4];
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    let payload = frame.subarray(FRAME_HEADER);
    if (type === TYPE_HEADERS) {
      if (this.pending) throw new Error("HEADERS inside a header block");
      let priority: Buffer | undefined;
      if (flags & FLAG_PADDED) {
        const pad = payload[0];
        payload = payload.subarray(1, payload.length - pad);
      }
      if (flags & FLAG_PRIORITY) {
        priority = payload.subarray(0, 5);
        payload = payload.subarray(5);
      }
      this.pending = { streamId, flags, priority, fragments: [payload], frames: [frame] };
    } else if (type === TYPE_CONTINUATION && this.pending && this.pending.streamId === streamId) {
      this.pending.fragments.push(payload);
      this.pending.frames.push(frame);
    } else {
      throw new Error("frame interrupts a header block");
    }
    if (!(flags & FLAG_END_HEADERS)) return undefined;
    const block = this.pending;
    this.pending = undefined;
    const headerBlock = Buffer.concat(block.fragments);
    const fixed = this.rewriteBlock(headerBlock);
    if (!fixed) return block.frames.length === 1 ? block.frames[0] : Buffer.concat(block.frames);
    this.rewritten++;
    const keep = block.flags & (FLAG_END_STREAM | FLAG_PRIORITY);
    const body = block.priority ? Buffer.concat([block.priority, fixed]) : fixed;
    const header = Buffer.alloc(FRAME_HEADER);
    header.writeUIntBE(body.length, 0, 3);
    header[3] = TYPE_HEADERS;
    header[4] = keep | FLAG_END_HEADERS;
    header.writeUInt32BE(block.streamId, 5);
    return Buffer.concat([header, body]);
  }

  /** Returns the block with invalid authority literals replaced, or undefined if none. */
  private rewriteBlock(block: Buffer): Buffer | undefined {
    const parts: Buffer[] = [];
    let copied = 0;
    for (const field of this.decoder.decode(block)) {
      if (field.name !== ":authority" || field.valueStart === undefined) continue;
      const clean = sanitiseAuthority(field.value);
      if (clean === field.value) continue;
      parts.push(block.subarray(copied, field.valueStart), writeString(clean));
      copied = field.end;
    }
    if (parts.length === 0) return undefined;
    parts.push(block.subarray(copied));
    return Buffer.concat(parts);
  }
}
