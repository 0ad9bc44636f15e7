/**
 * bridge(): a forwarded client stream joined to a TCP connection keeps every
 * byte in both directions whichever side half-closes first.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import type { AddressInfo, Server, Socket } from "node:net";
import { bridge } from "../../src/streaming/bridge.js";

const MB = 1 << 20;

/** A connected pair of sockets over loopback, both allowing half-open. */
async function socketPair(): Promise<[Socket, Socket, Server]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<Socket>((r) => server.once("connection", r));
  const a = connect({ port: (server.address() as AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
  const b = await accepted;
  return [a, b, server];
}

test("the pod closes its sending side first while the client is still sending: the pod still gets every byte", async () => {
  // client <-> [clientEnd | stream] == bridge == [tcp | podEnd] <-> pod
  const [client, stream, s1] = await socketPair();
  const [tcp, pod, s2] = await socketPair();
  pod.end("bye"); // the pod answers at once and half-closes
  let received = 0;
  // The pod reads slowly, so the client's last bytes are still queued in the bridge when its FIN arrives.
  const podDone = new Promise<void>((r) => {
    pod.on("data", (d: Buffer) => {
      received += d.length;
      pod.pause();
      setTimeout(() => pod.resume(), 1);
    });
    pod.once("end", () => r());
  });
  const bridged = bridge(stream, tcp);
  const answer = new Promise<string>((r) => {
    let text = "";
    client.on("data", (d: Buffer) => (text += d.toString()));
    client.once("end", () => r(text));
  });
  client.end(Buffer.alloc(16 * MB, 1));
  assert.equal(await answer, "bye");
  await podDone;
  await bridged;
  assert.equal(received, 16 * MB);
  for (const s of [client, stream, tcp, pod]) s.destroy();
  s1.close();
  s2.close();
});
