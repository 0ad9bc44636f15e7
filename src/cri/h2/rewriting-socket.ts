/**
 * A Duplex that stands for an accepted unix socket in front of Node's HTTP/2
 * server: reads pass through AuthorityRewriter, writes go straight to the socket.
 * Node's HTTP/2 session accepts any Duplex (it wraps those without a native
 * handle), which is what lets us see the bytes before nghttp2 does.
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { AuthorityRewriter } from "./authority-rewrite.js";

export class RewritingSocket extends Duplex {
  readonly rewriter = new AuthorityRewriter();

  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: false });
    socket.on("data", (chunk: Buffer) => {
      let more = true;
      for (const out of this.rewriter.push(chunk)) more = this.push(out) && more;
      if (!more) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (err) => this.destroy(err));
    socket.on("close", () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}
