/**
 * Containers created with `tty: true` through the CRI handlers, against the
 * Porto double: StartContainer gives the process a terminal (holder slave as
 * stdin, stdout and stderr), Attach reaches it through the streaming server
 * with a SPDY client as crictl's (stdin, stdout, resize; no stderr), the CRI
 * log gets what the terminal shows as stdout, a shim restart keeps the
 * terminal and its log, removal of the container or its pod releases the
 * holder, and start-up releases holders of containers that are gone.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { create } from "@bufbuild/protobuf";
import { AttachRequestSchema, ContainerState } from "../../../gen/runtime/v1/api_pb.js";
import { PortoClient } from "../../../src/porto/index.js";
import { containerPortoName, podPortoName } from "../../../src/mapping/porto-names.js";
import { ContainerLogManager } from "../../../src/logs/index.js";
import { containerLogSpec } from "../../../src/runtime/container-log-spec.js";
import { ContainerStdio } from "../../../src/streaming/container-stdio.js";
import { TtyHolders } from "../../../src/streaming/tty-holder.js";
import { PortoExecBackend } from "../../../src/streaming/porto-exec.js";
import { createStreamingServer } from "../../../src/streaming/server.js";
import type { StreamingServer } from "../../../src/streaming/server.js";
import { stateLocator } from "../../../src/streaming/locator.js";
import type { ContainerLocator } from "../../../src/streaming/locator.js";
import { attach as attachRpc } from "../../../src/cri/runtime/attach.js";
import type { StreamingDeps } from "../../../src/cri/runtime/streaming-deps.js";
import { spdyConnect } from "../../streaming/spdy-client.js";
import type { ClientStream, SpdyClient } from "../../streaming/spdy-client.js";
import { parseCriLog, streamText } from "../../logs/cri-log-reader.js";
import { ctrConfig, eventually, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

/** The log pump commits with fsync, which a busy disk can hold up for seconds: waits for the log are generous. */
const LOG_WAIT_MS = 30_000;
const silent = pino({ level: process.env.LOG_LEVEL ?? "silent" });

let shim: Shim;
let podId: string;
let ttyDir: string;
let logDir: string;
/** The shim's pieces that the harness does not make; replaced with it at each restart. */
let ttys: TtyHolders;
let logs: ContainerLogManager;
/** The streaming side lives across restarts on a Porto connection of its own. */
let streamingPorto: PortoClient;
let server: StreamingServer;
let streamingDeps: StreamingDeps;

/** What main.ts does around the lifecycle: terminals, attach, logs, and their start-up reconciliation. */
async function wire(): Promise<void> {
  ttys = new TtyHolders({ dir: ttyDir });
  shim.deps.stdio = new ContainerStdio({ porto: shim.porto, ttys, dir: join(ttyDir, "stdin") });
  logs = new ContainerLogManager({
    stateDir: shim.stateDir,
    porto: shim.porto,
    logger: silent,
    portoWorkDir: shim.double.state.daemon.options.workDir,
    tuning: { pollMs: 50, commitDelayMs: 20, minIntervalMs: 5 },
    terminalFacts: (p) => ttys.outputFacts(p),
  });
  shim.deps.logs = logs;
  await logs.recover([...shim.state.containers.values()].map(containerLogSpec));
  ttys.reconcile((id) => shim.state.containers.get(id) !== undefined);
}

async function restart(): Promise<void> {
  await logs.close();
  await shim.restart();
  await wire();
}

before(async () => {
  shim = await startShim();
  // Short: socket paths under it must fit a unix socket address.
  ttyDir = mkdtempSync(join(tmpdir(), "tty-"));
  logDir = mkdtempSync(join(tmpdir(), "tty-logs-"));
  await wire();
  streamingPorto = new PortoClient({ socketPath: shim.double.socketPath, timeoutMs: 10_000 });
  const locator: ContainerLocator = {
    container: (id) => stateLocator(shim.state).container(id),
    pod: (id) => stateLocator(shim.state).pod(id),
  };
  const attachBackend = { attach: (target: never, io: never) => (shim.deps.stdio as ContainerStdio).attach(target, io) };
  const execBackend = new PortoExecBackend({ porto: streamingPorto, locator, attach: attachBackend });
  server = createStreamingServer({ address: "127.0.0.1", port: 0, backend: execBackend });
  await server.listen();
  streamingDeps = { streaming: server, execBackend, locator, porto: streamingPorto };
  podId = (await shim.rt.runPodSandbox({ config: podConfig({ logDirectory: logDir }) })).podSandboxId;
});

after(async () => {
  for (const id of [...shim.state.containers.ids()]) ttys.release(id);
  await logs.close();
  await server.close();
  streamingPorto.close();
  await shim.close();
  rmSync(ttyDir, { recursive: true, force: true });
  rmSync(logDir, { recursive: true, force: true });
});

/** The program on the terminal: says its terminal, then answers lines ("size" = stty size, "quit" = exit 3). */
const PROGRAM = `tty; while read l; do case "$l" in size) stty size;; quit) exit 3;; *) echo "got $l";; esac; done`;

async function startTty(name: string, init: Parameters<typeof ctrConfig>[1] = {}, pod = podId): Promise<string> {
  const config = ctrConfig(["sh", "-c", PROGRAM], { tty: true, stdin: true, logPath: `${name}/0.log`, ...init });
  const { containerId } = await shim.rt.createContainer({ podSandboxId: pod, config });
  await shim.rt.startContainer({ containerId });
  return containerId;
}

interface Attached {
  client: SpdyClient;
  stdin: ClientStream;
  resize: ClientStream;
  /** Everything received on stdout so far. */
  out(): string;
  /** Waits until stdout shows `text`. */
  see(text: string): Promise<void>;
}

/** `crictl attach -it`: Attach through the CRI handler, then the streams crictl opens for a tty. */
async function attachTty(containerId: string): Promise<Attached> {
  const { url } = await attachRpc(streamingDeps, create(AttachRequestSchema, { containerId, tty: true, stdin: true, stdout: true }));
  const { client } = await spdyConnect(url, ["v4.channel.k8s.io"]);
  await client.createStream({ streamtype: "error" });
  const stdin = await client.createStream({ streamtype: "stdin" });
  const stdout = await client.createStream({ streamtype: "stdout" });
  const resize = await client.createStream({ streamtype: "resize" });
  let text = "";
  stdout.on("data", (d: Buffer) => (text += d.toString()));
  return {
    client,
    stdin,
    resize,
    out: () => text,
    async see(want) {
      await eventually(`${JSON.stringify(want)} on the attached terminal`, async () => (text.includes(want) ? true : undefined)).catch((err: Error) => {
        throw new Error(`${err.message}; it shows ${JSON.stringify(text)}`);
      });
    },
  };
}

async function stdoutLog(name: string): Promise<{ out: string; err: string }> {
  const path = join(logDir, name, "0.log");
  if (!existsSync(path)) return { out: "", err: "" };
  const lines = parseCriLog(await readFile(path));
  return { out: streamText(lines, "stdout").toString(), err: streamText(lines, "stderr").toString() };
}

const holderFiles = (id: string) => readdirSync(ttyDir).filter((f) => f.startsWith(id));
const holderPid = (id: string) => Number(readFileSync(join(ttyDir, `${id}.pid`), "utf8"));
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");

describe("tty containers", () => {
  let id: string;
  let pid: number;

  test("StartContainer gives the process a terminal: the holder's slave is stdin, stdout and stderr", async () => {
    id = await startTty("term");
    const ct = shim.double.state.containers.get(containerPortoName(podId, id))!;
    assert.equal(ct.state, "running");
    assert.match(ct.stdout.path, /^\/dev\/fd\/\d+$/);
    assert.equal(ct.stdin.path, ct.stdout.path);
    assert.equal(ct.stderr.path, ct.stdout.path);
    assert.equal(shim.state.containers.get(id)?.ttyOutputPath, join(ttyDir, `${id}.out`), "the record names the terminal's output");
    pid = holderPid(id);
    // `tty` answers with the terminal's name: its output went through the terminal to the CRI log
    // (whose lines lose the terminal's \r\n ending, as containerd's do).
    await eventually("tty's answer in the CRI log", async () => ((await stdoutLog("term")).out.match(/^\/dev\/pts\/\d+\n$/) ? true : undefined), LOG_WAIT_MS);
  });

  test("attach -it: input reaches the process, the terminal echoes, resize sets its size; detaching leaves it running", async () => {
    const a = await attachTty(id);
    a.resize.write(JSON.stringify({ Width: 100, Height: 30 }));
    a.stdin.write("hello\n");
    await a.see("hello\r\ngot hello\r\n");
    a.stdin.write("size\n");
    await a.see("size\r\n30 100\r\n");
    assert.ok(!a.out().includes("/dev/pts/"), "an attacher sees output from when it came");
    a.client.close();
    await a.client.closed;
    assert.equal(shim.double.state.containers.get(containerPortoName(podId, id))?.state, "running");

    const b = await attachTty(id);
    b.resize.write(JSON.stringify({ Width: 81, Height: 25 }));
    b.stdin.write("size\n");
    await b.see("25 81\r\n");
    b.stdin.write("second\n");
    await b.see("got second\r\n");
    b.client.close();
  });

  test("the CRI log has what the terminal showed, as stdout", async () => {
    await eventually("the attach session's lines in the CRI log", async () => {
      const log = await stdoutLog("term");
      return log.out.includes("got second\n") ? log : undefined;
    }, LOG_WAIT_MS);
    const log = await stdoutLog("term");
    assert.match(log.out, /^\/dev\/pts\/\d+\nhello\ngot hello\nsize\n30 100\nsize\n25 81\nsecond\ngot second\n$/);
    assert.equal(log.err, "", "a terminal has no stderr");
  });

  test("a shim restart keeps the terminal, its attachers and its log", async () => {
    await restart();
    assert.equal(holderPid(id), pid, "the same holder");
    assert.ok(alive(pid));
    const a = await attachTty(id);
    a.stdin.write("after restart\n");
    await a.see("got after restart\r\n");
    a.client.close();
    await eventually("the line in the CRI log", async () => ((await stdoutLog("term")).out.endsWith("got after restart\n") ? true : undefined), LOG_WAIT_MS);
    assert.equal((await stdoutLog("term")).out.match(/got second/g)?.length, 1, "nothing logged twice");
  });

  test("the process' exit: EXITED with its code, the log complete; RemoveContainer kills the holder and removes its files", async () => {
    const a = await attachTty(id);
    a.stdin.write("quit\n");
    await a.client.closed; // the session ends with the process
    const status = await eventually("EXITED", async () => {
      const s = (await shim.rt.containerStatus({ containerId: id })).status!;
      return s.state === ContainerState.CONTAINER_EXITED ? s : undefined;
    }, LOG_WAIT_MS);
    assert.equal(status.exitCode, 3);
    // No waiting: what EXITED promises must already hold.
    assert.ok((await stdoutLog("term")).out.endsWith("got after restart\nquit\n"));
    assert.ok(holderFiles(id).some((f) => f.endsWith(".out")), "the output stays until removal");

    await shim.rt.removeContainer({ containerId: id });
    assert.deepEqual(holderFiles(id), []);
    assert.equal(alive(pid), false);
  });

  test("RemoveContainer of a running tty container kills its holder", async () => {
    const running = await startTty("running");
    const holder = holderPid(running);
    await shim.rt.removeContainer({ containerId: running });
    assert.deepEqual(holderFiles(running), []);
    await eventually("the holder to go", async () => (alive(holder) ? undefined : true));
  });

  test("RemovePodSandbox releases the terminals of its containers", async () => {
    const pod = (await shim.rt.runPodSandbox({ config: podConfig({ logDirectory: logDir }) })).podSandboxId;
    const inPod = await startTty("in-pod", {}, pod);
    const holder = holderPid(inPod);
    await shim.rt.stopPodSandbox({ podSandboxId: pod });
    await shim.rt.removePodSandbox({ podSandboxId: pod });
    assert.deepEqual(holderFiles(inPod), []);
    await eventually("the holder to go", async () => (alive(holder) ? undefined : true));
  });

  test("start-up releases the holder of a container removed while the shim was down", async () => {
    const pod = (await shim.rt.runPodSandbox({ config: podConfig({ logDirectory: logDir }) })).podSandboxId;
    const gone = await startTty("gone", {}, pod);
    const kept = await startTty("kept");
    const holder = holderPid(gone);
    // Behind the shim's back: its pod's Porto container is destroyed, so reconciliation drops both records.
    await streamingPorto.destroy(podPortoName(pod));
    await restart();
    assert.equal(shim.state.containers.get(gone), undefined);
    assert.deepEqual(holderFiles(gone), []);
    await eventually("the holder to go", async () => (alive(holder) ? undefined : true));
    assert.ok(ttys.owns(kept), "a container that is still there keeps its terminal");
    assert.ok(alive(holderPid(kept)));
  });
});
