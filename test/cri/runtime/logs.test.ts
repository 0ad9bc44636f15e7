/**
 * Container logs through the CRI: StartContainer creates kubelet's file,
 * ContainerStatus reports EXITED only with the whole output in it,
 * ReopenContainerLog and RemoveContainer, against the Porto double.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContainerState } from "../../../gen/runtime/v1/api_pb.js";
import { ContainerLogManager } from "../../../src/logs/index.js";
import { parseCriLog, streamText } from "../../logs/cri-log-reader.js";
import { ctrConfig, eventually, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

let shim: Shim;
let podId: string;
let logDir: string;
let logs: ContainerLogManager;

before(async () => {
  shim = await startShim();
  logDir = await mkdtemp(join(tmpdir(), "pod-logs-"));
  logs = new ContainerLogManager({
    stateDir: shim.stateDir,
    porto: shim.porto,
    logger: pino({ level: "silent" }),
    portoWorkDir: shim.double.state.daemon.options.workDir,
    tuning: { pollMs: 50, commitDelayMs: 20, minIntervalMs: 5 },
  });
  shim.deps.logs = logs;
  podId = (await shim.rt.runPodSandbox({ config: podConfig({ logDirectory: logDir }) })).podSandboxId;
});
after(async () => {
  await logs.close();
  await shim.close();
  await rm(logDir, { recursive: true, force: true });
});

async function run(name: string, script: string): Promise<string> {
  const { containerId } = await shim.rt.createContainer({
    podSandboxId: podId,
    config: ctrConfig(["sh", "-c", script], { logPath: `${name}/0.log` }),
  });
  await shim.rt.startContainer({ containerId });
  return containerId;
}

describe("container logs through the CRI", () => {
  test("StartContainer creates the log; once ContainerStatus says EXITED the whole output is in it", async () => {
    const id = await run("app", "echo hello; echo oops >&2; seq 1 20000; printf tail");
    const path = join(logDir, "app/0.log");
    assert.ok(existsSync(path), "kubelet can link the file as soon as StartContainer returns");
    await eventually("EXITED", async () => {
      const s = (await shim.rt.containerStatus({ containerId: id })).status!;
      return s.state === ContainerState.CONTAINER_EXITED ? s : undefined;
    });
    // No waiting: what EXITED promises must already hold.
    const lines = parseCriLog(await readFile(path));
    const out = streamText(lines, "stdout").toString();
    assert.ok(out.startsWith("hello\n1\n2\n") && out.endsWith("\n19999\n20000\ntail"), JSON.stringify(out.slice(-30)));
    assert.equal(streamText(lines, "stderr").toString(), "oops\n");
    const listed = await shim.rt.listContainers({ filter: { id } });
    assert.equal(listed.containers[0].state, ContainerState.CONTAINER_EXITED);
  });

  test("ReopenContainerLog: a running container's later output goes to a new file at the same path", async () => {
    const id = await run("loop", "i=0; while [ $i -lt 40 ]; do echo line $i; i=$((i+1)); sleep 0.03; done");
    const path = join(logDir, "loop/0.log");
    await eventually("some lines", async () => ((await readFile(path, "utf8")).includes("line 3\n") ? true : undefined));
    await rename(path, `${path}.20240101-000000`);
    await shim.rt.reopenContainerLog({ containerId: id.slice(0, 13) });
    assert.ok(existsSync(path), "the new file exists when the call returns");
    await eventually("EXITED", async () => {
      const s = (await shim.rt.containerStatus({ containerId: id })).status!;
      return s.state === ContainerState.CONTAINER_EXITED ? s : undefined;
    });
    const before = streamText(parseCriLog(await readFile(`${path}.20240101-000000`)), "stdout").toString();
    const after = streamText(parseCriLog(await readFile(path)), "stdout").toString();
    assert.ok(after.length > 0);
    assert.equal(before + after, Array.from({ length: 40 }, (_, i) => `line ${i}\n`).join(""));

    // Not running any more: as containerd, an error kubelet answers by renaming the file back.
    await assert.rejects(shim.rt.reopenContainerLog({ containerId: id }), (err: unknown) => {
      const e = ConnectError.from(err);
      return e.code === Code.FailedPrecondition && e.rawMessage === "container is not running";
    });
    await assert.rejects(shim.rt.reopenContainerLog({ containerId: "f".repeat(64) }), (err: unknown) => ConnectError.from(err).code === Code.NotFound);
  });

  test("a created container's log cannot be reopened; RemoveContainer forgets the log but leaves the file", async () => {
    const { containerId: created } = await shim.rt.createContainer({
      podSandboxId: podId,
      config: ctrConfig(["true"], { logPath: "created/0.log" }),
    });
    await assert.rejects(shim.rt.reopenContainerLog({ containerId: created }), (err: unknown) => ConnectError.from(err).code === Code.FailedPrecondition);
    // Running without a log path: nothing to reopen, and no error either (containerd).
    const { containerId: unlogged } = await shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(["sleep", "5"]) });
    await shim.rt.startContainer({ containerId: unlogged });
    await shim.rt.reopenContainerLog({ containerId: unlogged });
    await shim.rt.stopContainer({ containerId: unlogged, timeout: 0n });

    const id = await run("gone", "echo bye");
    await eventually("EXITED", async () => {
      const s = (await shim.rt.containerStatus({ containerId: id })).status!;
      return s.state === ContainerState.CONTAINER_EXITED ? s : undefined;
    });
    assert.ok(existsSync(join(shim.stateDir, "logs", `${id}.json`)));
    await shim.rt.removeContainer({ containerId: id });
    assert.ok(!existsSync(join(shim.stateDir, "logs", `${id}.json`)), "the log record goes with the container");
    assert.equal(await readFile(join(logDir, "gone/0.log"), "utf8").then((t) => streamText(parseCriLog(Buffer.from(t)), "stdout").toString()), "bye\n");
  });
});
