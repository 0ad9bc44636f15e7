/**
 * NetnsDialer against a server in a network namespace of its own (as root,
 * with iproute2): every byte arrives in both directions, up to the last ones,
 * however the two ends close. The nsenter bridge once destroyed one side as
 * soon as the other closed, dropping what was still buffered (seen on portod:
 * a 200 MB port-forward arrived 4394 bytes short).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { NetnsDialer } from "../../src/streaming/netns-dial.js";

const PORT = 18_000 + (process.pid % 1000);
const NS = `psdial${process.pid % 100000}`;
const MB = 1 << 20;
const hasIp = (() => {
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const skip = process.getuid?.() !== 0 ? "needs root (network namespaces)" : !hasIp ? "needs iproute2's ip" : false;

/**
 * The server: "down N" sends N bytes and closes; "up" reads until the
 * client's FIN, then answers with the count it read and closes.
 */
const SERVER = String.raw`
require("net").createServer({ allowHalfOpen: true }, (c) => {
  c.on("error", () => {});
  let line = "", n = 0, mode;
  c.on("data", (d) => {
    if (mode === "up") { n += d.length; return; }
    line += d.toString("latin1");
    const nl = line.indexOf("\n");
    if (nl < 0) return;
    const [cmd, arg] = line.slice(0, nl).split(" ");
    if (cmd === "down") { mode = "down"; c.end(Buffer.alloc(Number(arg), 7)); }
    else { mode = "up"; n = line.length - nl - 1; }
  });
  c.on("end", () => { if (mode === "up") c.end(String(n)); });
}).listen(Number(process.argv[1]), "127.0.0.1", () => process.stdout.write("ready\n"));
`;

describe("NetnsDialer", { skip }, () => {
  let server: ChildProcess;
  const dialer = new NetnsDialer();

  before(async () => {
    execFileSync("ip", ["netns", "add", NS]);
    execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
    server = spawn("ip", ["netns", "exec", NS, process.execPath, "-e", SERVER, String(PORT)], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => server.stdout!.once("data", r));
  });
  after(() => {
    dialer.close();
    server?.kill("SIGKILL");
    execFileSync("ip", ["netns", "delete", NS]);
  });

  /** Reads to the end; `slow` lingers on each chunk, so data piles up in the bridge as the server closes. */
  const read = async (s: NodeJS.ReadableStream, slow = false) => {
    const chunks: Buffer[] = [];
    for await (const c of s) {
      chunks.push(c as Buffer);
      if (slow) await new Promise((r) => setTimeout(r, 1));
    }
    return Buffer.concat(chunks);
  };

  it("a server that sends and closes: every byte arrives, each time, to a fast or a slow reader", async () => {
    for (let i = 0; i < 6; i++) {
      const slow = i % 2 === 1;
      const size = slow ? 4 * MB : 64 * MB;
      const s = await dialer.dial(server.pid!, PORT);
      s.end(`down ${size}\n`);
      const got = await read(s, slow);
      assert.equal(got.length, size, `run ${i}${slow ? " (slow reader)" : ""}`);
    }
  });

  it("a client that sends and half-closes: the server gets every byte and answers", async () => {
    for (let i = 0; i < 3; i++) {
      const s = await dialer.dial(server.pid!, PORT);
      s.write("up\n");
      s.end(Buffer.alloc(24 * MB, 1));
      assert.equal((await read(s)).toString(), String(24 * MB), `run ${i}`);
    }
  });

  it("a port nobody listens on is refused with the reason", async () => {
    await assert.rejects(dialer.dial(server.pid!, PORT + 1), /ECONNREFUSED|refused/);
  });
});
