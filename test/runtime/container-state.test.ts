/** Table tests of the Porto → CRI state, exit code, reason and time rules. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ContainerState, PodSandboxState } from "../../gen/runtime/v1/api_pb.js";
import { containerFacts, criExitCode, podState } from "../../src/runtime/container-state.js";
import type { PortoFacts } from "../../src/runtime/container-state.js";
import type { ContainerRecord, PodRecord } from "../../src/runtime/records.js";

const S = 1_000_000_000n;
const record = (extra: Partial<ContainerRecord> = {}): ContainerRecord => ({
  v: 1,
  id: "c",
  podId: "p",
  config: "",
  createdAtNs: (100n * S + 250_000_000n).toString(),
  image: { requested: "i", id: "sha256:i", ref: "sha256:i", name: "i" },
  logPath: "",
  stopSignal: 15,
  ...extra,
});

test("Porto exit codes as CRI exit codes", () => {
  const table: Array<[number, number]> = [
    [0, 0],
    [1, 1],
    [255, 255],
    [-9, 137],
    [-15, 143],
    [-2, 130],
    [-99, 137],
  ];
  for (const [porto, cri] of table) assert.equal(criExitCode(porto), cri, `exit_code ${porto}`);
});

test("states, exit codes, reasons and messages", () => {
  const started = { startedAtNs: (101n * S + 1n).toString() };
  const rows: Array<[string, Partial<ContainerRecord>, PortoFacts | undefined, ContainerState, number, string, RegExp]> = [
    ["created", {}, { state: "stopped" }, ContainerState.CONTAINER_CREATED, 0, "", /^$/],
    ["running", started, { state: "running", startTime: 101 }, ContainerState.CONTAINER_RUNNING, 0, "", /^$/],
    ["stopping", started, { state: "stopping" }, ContainerState.CONTAINER_RUNNING, 0, "", /^$/],
    ["paused", started, { state: "paused" }, ContainerState.CONTAINER_RUNNING, 0, "", /^$/],
    ["exit 0", started, { state: "dead", exitCode: 0, deathTime: 102 }, ContainerState.CONTAINER_EXITED, 0, "Completed", /^$/],
    ["exit 3", started, { state: "dead", exitCode: 3, deathTime: 102 }, ContainerState.CONTAINER_EXITED, 3, "Error", /^$/],
    ["SIGTERM", started, { state: "dead", exitCode: -15, deathTime: 102 }, ContainerState.CONTAINER_EXITED, 143, "Error", /SIGTERM/],
    ["OOM code", started, { state: "dead", exitCode: -99, deathTime: 102 }, ContainerState.CONTAINER_EXITED, 137, "OOMKilled", /OOM/],
    ["OOM flag", started, { state: "dead", exitCode: -9, oomKilled: true }, ContainerState.CONTAINER_EXITED, 137, "OOMKilled", /OOM/],
    ["reset after run", started, { state: "stopped" }, ContainerState.CONTAINER_EXITED, 255, "Error", /^$/],
    ["reset, code known", { ...started, exitCode: 137 }, { state: "stopped" }, ContainerState.CONTAINER_EXITED, 137, "Error", /^$/],
    ["vanished", started, undefined, ContainerState.CONTAINER_UNKNOWN, 255, "Unknown", /gone/],
    ["start error", { startError: { message: "no such file", atNs: (101n * S).toString() } }, { state: "stopped" }, ContainerState.CONTAINER_EXITED, 128, "StartError", /no such file/],
  ];
  for (const [what, extra, facts, state, exitCode, reason, message] of rows) {
    const f = containerFacts(record(extra), facts);
    assert.equal(f.state, state, what);
    assert.equal(f.exitCode, exitCode, what);
    assert.equal(f.reason, reason, what);
    assert.match(f.message, message, what);
  }
});

test("times keep sub-second precision and never go backwards", () => {
  const created = 100n * S + 250_000_000n;
  // Started and died within the second it was created: Porto's whole seconds would say 100 and 100.
  let f = containerFacts(record(), { state: "dead", exitCode: 0, startTime: 100, deathTime: 100 });
  assert.equal(f.createdAt, created);
  assert.equal(f.startedAt, created, "Porto's start second is clamped to the creation time");
  assert.equal(f.finishedAt, created, "and death to the start");
  // Recorded times win over Porto's.
  f = containerFacts(record({ startedAtNs: (100n * S + 300_000_000n).toString(), finishedAtNs: (100n * S + 900_000_000n).toString() }), {
    state: "dead",
    exitCode: -15,
    startTime: 100,
    deathTime: 100,
  });
  assert.equal(f.startedAt, 100n * S + 300_000_000n);
  assert.equal(f.finishedAt, 100n * S + 900_000_000n);
  // Died later on its own: Porto's death second, not before the start.
  f = containerFacts(record({ startedAtNs: (100n * S + 300_000_000n).toString() }), { state: "dead", exitCode: 1, deathTime: 105 });
  assert.equal(f.finishedAt, 105n * S);
  // Not finished: zero.
  f = containerFacts(record({ startedAtNs: (101n * S).toString() }), { state: "running" });
  assert.equal(f.finishedAt, 0n);
});

test("pod state: READY only while recorded ready and Porto keeps the pod up", () => {
  const pod = (state: "ready" | "notready"): PodRecord => ({ v: 1, id: "p", config: "", runtimeHandler: "", createdAtNs: "1", state });
  assert.equal(podState(pod("ready"), { state: "meta" }), PodSandboxState.SANDBOX_READY);
  assert.equal(podState(pod("ready"), { state: "running" }), PodSandboxState.SANDBOX_READY);
  assert.equal(podState(pod("ready"), { state: "dead" }), PodSandboxState.SANDBOX_NOTREADY);
  assert.equal(podState(pod("ready"), { state: "stopped" }), PodSandboxState.SANDBOX_NOTREADY);
  assert.equal(podState(pod("ready"), undefined), PodSandboxState.SANDBOX_NOTREADY);
  assert.equal(podState(pod("notready"), { state: "meta" }), PodSandboxState.SANDBOX_NOTREADY);
});
