/**
 * TCP connections from inside a pod's network namespace.
 *
 * Node cannot setns(2). When the pod shares the shim's namespace (hostNetwork)
 * we connect directly. Otherwise a small bridge runs inside the pod's
 * namespace: `nsenter --net=/proc/<pid>/ns/net` starting this same Node
 * binary with an inline script that listens on a Unix socket in a private
 * directory. Only the network namespace changes, so the socket's path is
 * reachable from the shim, and every forwarded connection is one Unix
 * connection: we send "<port>\n", the bridge connects to 127.0.0.1:<port>
 * (then [::1], as kubelet dials "localhost") and answers "ok\n" or
 * "error <why>\n", then bytes flow both ways with half-closes kept.
 *
 * One bridge per namespace serves all connections at once; it exits when its
 * stdin closes (we close it after a minute without connections, and the
 * kernel closes it if the shim dies), so none outlive the shim.
 *
 * Why not a helper inside the pod through Porto (an isolate=false child of the
 * pod): it would share the pod's root file system, which for a pause image
 * holds no program that could bridge, and images need not have `nc`.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readlinkSync, rmSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The bridge, as plain CommonJS for `node -e`; argv[1] is the socket path. */
const BRIDGE = String.raw`
const net = require("net");
const path = process.argv[1];
function dial(port, hosts, cb) {
  const host = hosts[0];
  const t = net.connect({ host, port, allowHalfOpen: true });
  const fail = (err) => hosts.length > 1 ? dial(port, hosts.slice(1), (e2, t2) => cb(e2 ? err : null, t2)) : cb(err);
  t.once("error", fail);
  t.once("connect", () => { t.off("error", fail); cb(null, t); });
}
const server = net.createServer({ allowHalfOpen: true }, (c) => {
  let head = Buffer.alloc(0);
  c.on("error", () => c.destroy());
  const onData = (d) => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) { if (head.length > 16) c.destroy(); return; }
    c.off("data", onData);
    c.pause();
    const port = Number(head.subarray(0, nl).toString());
    const rest = head.subarray(nl + 1);
    dial(port, ["127.0.0.1", "::1"], (err, t) => {
      if (err) { c.end("error " + err.message + "\n"); return; }
      c.write("ok\n");
      if (rest.length) t.write(rest);
      t.on("error", () => c.destroy());
      c.on("error", () => t.destroy());
      // A side that ended cleanly leaves the other to flush what it holds and end (pipe ends it):
      // destroying it at once would drop the last bytes still in its buffer. Only a broken one takes the other down.
      c.on("close", (failed) => { if (failed || !c.readableEnded) t.destroy(); });
      t.on("close", (failed) => { if (failed || !t.readableEnded) c.destroy(); });
      c.pipe(t);
      t.pipe(c);
      c.resume();
    });
  };
  c.on("data", onData);
});
server.listen(path, () => process.stdout.write("ready\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
`;

/** A bridge's idle time before it is stopped. */
const BRIDGE_IDLE_MS = 60_000;

interface Bridge {
  child: ChildProcess;
  socketPath: string;
  dir: string;
  ready: Promise<void>;
  active: number;
  idleTimer?: NodeJS.Timeout;
}

export interface NetnsDialerOptions {
  /** nsenter(1); default the one on PATH. */
  nsenter?: string;
  /** Directory for the bridges' sockets; default the system temp directory. */
  dir?: string;
}

/** The namespace identity of a process, as /proc shows it (`net:[4026531840]`). */
export function netnsOf(pid: number | "self"): string {
  return readlinkSync(`/proc/${pid}/ns/net`);
}

export class NetnsDialer {
  private readonly bridges = new Map<string, Bridge>();

  constructor(private readonly options: NetnsDialerOptions = {}) {}

  /**
   * Connects to localhost:`port` in the network namespace of `pid`. Rejects
   * with the reason (connection refused, ...) when that fails.
   */
  async dial(pid: number, port: number): Promise<Socket> {
    const ns = netnsOf(pid);
    if (ns === netnsOf("self")) return dialLocal(port, ["127.0.0.1", "::1"]);
    const bridge = this.bridge(ns, pid);
    await bridge.ready;
    bridge.active++;
    if (bridge.idleTimer) clearTimeout(bridge.idleTimer);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--bridge.active === 0) {
        bridge.idleTimer = setTimeout(() => this.stop(ns), BRIDGE_IDLE_MS);
        bridge.idleTimer.unref();
      }
    };
    try {
      const socket = await viaBridge(bridge.socketPath, port);
      socket.once("close", release);
      return socket;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Stops every bridge. */
  close(): void {
    for (const ns of [...this.bridges.keys()]) this.stop(ns);
  }

  private bridge(ns: string, pid: number): Bridge {
    const existing = this.bridges.get(ns);
    if (existing && existing.child.exitCode === null && existing.child.signalCode === null) return existing;
    const dir = mkdtempSync(join(this.options.dir ?? tmpdir(), "portoshim-netns-"));
    const socketPath = join(dir, "bridge.sock");
    const child = spawn(
      this.options.nsenter ?? "nsenter",
      [`--net=/proc/${pid}/ns/net`, "--", process.execPath, "-e", BRIDGE, socketPath],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin!.on("error", () => undefined);
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.once("data", () => resolve());
      child.once("error", (err) => reject(new Error(`cannot enter the pod's network namespace: ${err.message}`)));
      child.once("exit", () =>
        reject(new Error(`cannot enter the pod's network namespace: ${stderr.trim() || "nsenter exited"}`)),
      );
    });
    ready.catch(() => this.stop(ns));
    const bridge: Bridge = { child, socketPath, dir, ready, active: 0 };
    child.once("exit", () => {
      if (this.bridges.get(ns) === bridge) this.bridges.delete(ns);
      rmSync(dir, { recursive: true, force: true });
    });
    this.bridges.set(ns, bridge);
    return bridge;
  }

  private stop(ns: string): void {
    const bridge = this.bridges.get(ns);
    if (!bridge) return;
    this.bridges.delete(ns);
    if (bridge.idleTimer) clearTimeout(bridge.idleTimer);
    bridge.child.stdin?.end();
    setTimeout(() => bridge.child.kill("SIGKILL"), 5_000).unref();
  }
}

/** Connects to the first of `hosts` that accepts. */
function dialLocal(port: number, hosts: string[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: hosts[0], port, allowHalfOpen: true });
    s.once("connect", () => {
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (err) => {
      s.destroy();
      // Report the IPv4 failure: it is the one people look for ("127.0.0.1:80 refused").
      if (hosts.length > 1) dialLocal(port, hosts.slice(1)).then(resolve, () => reject(err));
      else reject(err);
    });
  });
}

/** One connection through a bridge: the port line, the answer line, then raw bytes. */
function viaBridge(socketPath: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ path: socketPath, allowHalfOpen: true });
    let head = Buffer.alloc(0);
    const fail = (err: Error) => {
      s.destroy();
      reject(err);
    };
    s.once("error", fail);
    s.once("connect", () => s.write(`${port}\n`));
    const onEnd = () => fail(new Error("the namespace bridge closed the connection"));
    s.once("end", onEnd);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      s.off("data", onData);
      s.off("end", onEnd);
      s.off("error", fail);
      s.pause();
      const line = head.subarray(0, nl).toString();
      const rest = head.subarray(nl + 1);
      if (line !== "ok") return fail(new Error(line.replace(/^error /, "")));
      if (rest.length > 0) s.unshift(rest);
      resolve(s);
    };
    s.on("data", onData);
  });
}
