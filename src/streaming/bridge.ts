/**
 * Joins a forwarded client stream and a TCP connection. Each direction ends
 * with a half-close (the client's FIN becomes the TCP FIN and back), as
 * kubelet's port forwarding does, so request/response protocols that close
 * their sending side first keep working.
 */
import type { Duplex } from "node:stream";

/** Joins a client stream and a TCP connection in both directions, half-closes included. */
export function bridge(stream: Duplex, tcp: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve();
    };
    let inDone = false;
    let outDone = false;
    const check = () => {
      if (inDone && outDone) {
        // The client's last bytes may still be on their way to the pod: close once they are out.
        if (tcp.writableFinished) tcp.destroy();
        else tcp.once("finish", () => tcp.destroy());
        finish();
      }
    };
    tcp.on("error", () => {
      stream.unpipe(tcp);
      finish();
    });
    stream.on("error", () => {
      tcp.destroy();
      finish();
    });
    stream.once("close", () => {
      if (!stream.readableEnded || !stream.writableFinished) {
        tcp.destroy();
        finish();
      }
    });
    tcp.once("close", () => {
      outDone = true;
      if (!stream.writableEnded) stream.end();
      check();
      finish();
    });
    // client -> pod; the client's half-close becomes the TCP FIN
    stream.pipe(tcp);
    stream.once("end", () => {
      inDone = true;
      check();
    });
    // pod -> client; the server's FIN ends the client's stream
    tcp.pipe(stream);
    tcp.once("end", () => {
      outDone = true;
      check();
    });
  });
}
