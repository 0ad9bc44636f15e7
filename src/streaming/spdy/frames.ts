/**
 * SPDY/3.1 frames on the wire: a parser that cuts a byte stream into frames
 * and encoders for the frames a server sends.
 *
 *   control: |1| version(15) | type(16) | flags(8) | length(24) | payload
 *   data:    |0| stream id(31)          | flags(8) | length(24) | payload
 *
 * Header blocks stay compressed here; header-block.ts deals with them, since
 * their zlib context spans the whole connection.
 */

export const SPDY_VERSION = 3;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

/** Largest payload a frame can carry (24-bit length). */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export type Frame =
  | { type: "data"; streamId: number; flags: number; data: Buffer }
  | { type: "syn_stream"; streamId: number; associatedId: number; priority: number; flags: number; headerBlock: Buffer }
  | { type: "syn_reply"; streamId: number; flags: number; headerBlock: Buffer }
  | { type: "rst_stream"; streamId: number; status: number }
  | { type: "settings"; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { type: "ping"; id: number }
  | { type: "goaway"; lastGoodStreamId: number; status: number }
  | { type: "headers"; streamId: number; flags: number; headerBlock: Buffer }
  | { type: "window_update"; streamId: number; delta: number }
  | { type: "unknown"; frameType: number; flags: number };

export class SpdyProtocolError extends Error {
  override name = "SpdyProtocolError";
}

/**
 * Cuts a byte stream into frames. Chunks are kept as they came and joined
 * only for the frame being cut, so large data frames cost one copy.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds bytes and returns every frame now complete. Throws SpdyProtocolError on garbage. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= 8) {
      const head = this.peek(8);
      const length = head.readUIntBE(5, 3);
      if (this.buffered < 8 + length) break;
      const frame = this.take(8 + length);
      frames.push(decodeFrame(frame));
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

function decodeFrame(buf: Buffer): Frame {
  const flags = buf[4];
  const payload = buf.subarray(8);
  if ((buf[0] & 0x80) === 0) {
    return { type: "data", streamId: buf.readUInt32BE(0) & 0x7fffffff, flags, data: payload };
  }
  const version = buf.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
  const type = buf.readUInt16BE(2);
  const need = (n: number) => {
    if (payload.length < n) throw new SpdyProtocolError(`control frame ${type} too short (${payload.length} bytes)`);
  };
  const id = (offset: number) => payload.readUInt32BE(offset) & 0x7fffffff;
  switch (type) {
    case FrameType.SynStream:
      need(10);
      return {
        type: "syn_stream",
        streamId: id(0),
        associatedId: id(4),
        priority: payload[8] >> 5,
        flags,
        headerBlock: payload.subarray(10),
      };
    case FrameType.SynReply:
      need(4);
      return { type: "syn_reply", streamId: id(0), flags, headerBlock: payload.subarray(4) };
    case FrameType.RstStream:
      need(8);
      return { type: "rst_stream", streamId: id(0), status: payload.readUInt32BE(4) };
    case FrameType.Settings: {
      need(4);
      const count = payload.readUInt32BE(0);
      need(4 + count * 8);
      const entries = [];
      for (let i = 0; i < count; i++) {
        const o = 4 + i * 8;
        entries.push({ flags: payload[o], id: payload.readUIntBE(o + 1, 3), value: payload.readUInt32BE(o + 4) });
      }
      return { type: "settings", flags, entries };
    }
    case FrameType.Ping:
      need(4);
      return { type: "ping", id: payload.readUInt32BE(0) };
    case FrameType.GoAway:
      need(4);
      // SPDY/2 GOAWAY had no status; tolerate its absence.
      return { type: "goaway", lastGoodStreamId: id(0), status: payload.length >= 8 ? payload.readUInt32BE(4) : 0 };
    case FrameType.Headers:
      need(4);
      return { type: "headers", streamId: id(0), flags, headerBlock: payload.subarray(4) };
    case FrameType.WindowUpdate:
      need(8);
      return { type: "window_update", streamId: id(0), delta: payload.readUInt32BE(4) & 0x7fffffff };
    default:
      // The spec says to ignore unknown control frames.
      return { type: "unknown", frameType: type, flags };
  }
}

function controlHeader(type: number, flags: number, length: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head[4] = flags;
  head.writeUIntBE(length, 5, 3);
  return head;
}

/** The 8-byte head of a data frame carrying `length` bytes. */
export function dataFrameHead(streamId: number, flags: number, length: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head[4] = flags;
  head.writeUIntBE(length, 5, 3);
  return head;
}

export function encodeSynStream(streamId: number, flags: number, headerBlock: Buffer, priority = 0): Buffer {
  const body = Buffer.alloc(10);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(0, 4);
  body[8] = (priority & 7) << 5;
  return Buffer.concat([controlHeader(FrameType.SynStream, flags, 10 + headerBlock.length), body, headerBlock]);
}

export function encodeSynReply(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff);
  return Buffer.concat([controlHeader(FrameType.SynReply, flags, 4 + headerBlock.length), id, headerBlock]);
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const out = controlHeader(FrameType.RstStream, 0, 8);
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return Buffer.concat([out, body]);
}

export function encodePing(id: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(id >>> 0);
  return Buffer.concat([controlHeader(FrameType.Ping, 0, 4), body]);
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  body.writeUInt32BE(status, 4);
  return Buffer.concat([controlHeader(FrameType.GoAway, 0, 8), body]);
}

export function encodeSettings(entries: { flags?: number; id: number; value: number }[], flags = 0): Buffer {
  const body = Buffer.alloc(4 + entries.length * 8);
  body.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    const o = 4 + i * 8;
    body[o] = e.flags ?? 0;
    body.writeUIntBE(e.id, o + 1, 3);
    body.writeUInt32BE(e.value >>> 0, o + 4);
  });
  return Buffer.concat([controlHeader(FrameType.Settings, flags, body.length), body]);
}

export function encodeHeaders(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff);
  return Buffer.concat([controlHeader(FrameType.Headers, flags, 4 + headerBlock.length), id, headerBlock]);
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(streamId & 0x7fffffff, 0);
  body.writeUInt32BE(delta & 0x7fffffff, 4);
  return Buffer.concat([controlHeader(FrameType.WindowUpdate, 0, 8), body]);
}
