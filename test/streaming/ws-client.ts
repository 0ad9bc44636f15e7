/**
 * A WebSocket client for the channel protocols, as kubectl 1.29+ (v5) and
 * older WebSocket clients use them.
 */
import { WebSocket } from "ws";

export interface WsSession {
  ws: WebSocket;
  protocol: string;
  /** Bytes received per channel, in order. */
  channels: Map<number, Buffer[]>;
  /** Messages in arrival order: [channel, payload]. */
  messages: [number, Buffer][];
  send(channel: number, data: Buffer | string): void;
  /** v5 close signal for a channel. */
  closeChannel(channel: number): void;
  closed: Promise<{ code: number }>;
  data(channel: number): Buffer;
}

export function wsConnect(url: string, protocols: string[]): Promise<WsSession> {
  const ws = new WebSocket(url.replace(/^http/, "ws"), protocols);
  const base64 = () => ws.protocol.includes("base64");
  const channels = new Map<number, Buffer[]>();
  const messages: [number, Buffer][] = [];
  const closed = new Promise<{ code: number }>((resolve) => ws.once("close", (code) => resolve({ code })));
  ws.on("message", (raw: Buffer, isBinary: boolean) => {
    let ch: number;
    let payload: Buffer;
    if (!isBinary && base64()) {
      const text = raw.toString();
      ch = text.charCodeAt(0) - 48;
      payload = Buffer.from(text.slice(1), "base64");
    } else {
      ch = raw[0];
      payload = raw.subarray(1);
    }
    messages.push([ch, payload]);
    if (!channels.has(ch)) channels.set(ch, []);
    channels.get(ch)!.push(payload);
  });
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => reject(Object.assign(new Error(`refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
    });
    ws.once("error", reject);
    ws.once("open", () =>
      resolve({
        ws,
        protocol: ws.protocol,
        channels,
        messages,
        closed,
        send(channel, data) {
          const buf = Buffer.from(data);
          if (base64()) ws.send(String.fromCharCode(48 + channel) + buf.toString("base64"));
          else ws.send(Buffer.concat([Buffer.from([channel]), buf]));
        },
        closeChannel(channel) {
          ws.send(Buffer.from([255, channel]));
        },
        data(channel) {
          return Buffer.concat(channels.get(channel) ?? []);
        },
      }),
    );
  });
}
