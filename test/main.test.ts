/**
 * The executable end to end: started as a user starts it, with a config file,
 * against the Porto double, checked through a real gRPC client and its log file.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rename, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer } from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RuntimeService } from "../gen/runtime/v1/api_pb.js";
import { startPortoDouble, DOUBLE_VERSION } from "./porto-double/index.js";
import type { PortoDouble } from "./porto-double/index.js";

const CLI = new URL("../src/cli.ts", import.meta.url).pathname;

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "portoshim-main-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function run(args: string[]): Running {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function clientFor(socketPath: string) {
  return createClient(
    RuntimeService,
    createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => connect(socketPath) } }),
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function writeConfig(name: string, portoSocket: string) {
  const base = join(dir, name);
  await mkdir(base, { recursive: true });
  const cfg = join(base, "portoshim.yaml");
  await writeFile(
    cfg,
    [
      "Portoshim:",
      `  Socket: ${join(base, "portoshim.sock")}`,
      `  LogsDir: ${join(base, "logs", "nested")}`,
      `  StateDir: ${join(base, "state")}`,
      "Porto:",
      `  Socket: ${portoSocket}`,
      "  SocketTimeout: 10s",
      "CNI:",
      `  ConfDir: ${join(base, "cni")}`,
      // A free port, so a portoshim already running here (or another test) does not make start-up fail.
      "StreamingServer:",
      '  Address: "127.0.0.1"',
      `  Port: ${await freePort()}`,
      "",
    ].join("\n"),
  );
  return { cfg, socket: join(base, "portoshim.sock"), logFile: join(base, "logs", "nested", "portoshim.log") };
}

describe("portoshim executable", () => {
  test("exit status 2 for a bad flag and for a refused config, naming the key", async () => {
    const bad = run(["--no-such-flag"]);
    assert.equal(await bad.exited, 2);
    const cfg = join(dir, "bad.yaml");
    await writeFile(cfg, "StreamingServer:\n  Port: 70000\n");
    const refused = run(["--config", cfg]);
    assert.equal(await refused.exited, 2);
    assert.match(refused.stderr(), /StreamingServer\.Port/);
    const missing = run(["--config", join(dir, "absent.yaml")]);
    assert.equal(await missing.exited, 2);
  });

  test("serves CRI against portod, logs each call at debug, reopens its log on SIGHUP, stops cleanly on SIGTERM", async () => {
    let double: PortoDouble | undefined;
    const portoSocket = join(dir, "portod.sock");
    const { cfg, socket, logFile } = await writeConfig("full", portoSocket);
    const shim = run(["--config", cfg, "--debug"]);
    try {
      // portod is down at start: the server still comes up and says why it isn't ready.
      await waitFor("the CRI socket", async () => ((await stat(socket)).isSocket() ? true : undefined));
      const client = clientFor(socket);
      let st = await client.status({});
      const runtimeReady = () => st.status!.conditions.find((c) => c.type === "RuntimeReady")!;
      assert.equal(runtimeReady().status, false);
      assert.ok(runtimeReady().message.length > 0);
      assert.equal(st.status!.conditions.find((c) => c.type === "NetworkReady")!.status, false);

      // portod appears: the shim recovers by itself.
      double = await startPortoDouble({ socketPath: portoSocket });
      st = await waitFor("RuntimeReady", async () => {
        const s = await client.status({});
        return s.status!.conditions.find((c) => c.type === "RuntimeReady")!.status ? s : undefined;
      });
      const v = await client.version({});
      assert.equal(v.runtimeVersion, DOUBLE_VERSION.tag);
      assert.equal(v.runtimeName, "porto");

      // One JSON line per call at debug level.
      const lines = async () => (await readFile(logFile, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
      const calls = await waitFor("a call line", async () => {
        const l = (await lines()).filter((e) => e.method === "Version");
        return l.length ? l : undefined;
      });
      assert.equal(calls[0].code, "OK");
      assert.equal(typeof calls[0].ms, "number");
      assert.match(calls[0].requestId, /^[0-9a-f]{12}$/);

      // logrotate moves the file away and sends SIGHUP: new lines go to a new file.
      await rename(logFile, `${logFile}.1`);
      shim.child.kill("SIGHUP");
      await waitFor("a new log file", async () => ((await stat(logFile)).isFile() ? true : undefined));
      await client.runtimeConfig({});
      await waitFor("the call in the new file", async () =>
        (await lines()).some((e) => e.method === "RuntimeConfig") ? true : undefined,
      );
      assert.ok(!(await readFile(`${logFile}.1`, "utf8")).includes("RuntimeConfig"));

      shim.child.kill("SIGTERM");
      assert.equal(await shim.exited, 0);
      await assert.rejects(stat(socket), { code: "ENOENT" }, "the socket is removed");
    } finally {
      shim.child.kill("SIGKILL");
      await double?.close();
    }
  });
});
