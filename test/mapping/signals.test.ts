import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { Signal } from "../../gen/runtime/v1/api_pb.js";
import { criSignalNumber, criSignalOf, parseSignal, signalName, stopSignal } from "../../src/mapping/signals.js";
import { throwsCode } from "./helpers.js";

test("parseSignal: names with and without SIG, any case, numbers, real-time offsets", () => {
  const table: [string, number | undefined][] = [
    ["SIGTERM", 15],
    ["TERM", 15],
    ["term", 15],
    ["SigQuit", 3],
    ["15", 15],
    ["9", 9],
    [" SIGINT ", 2],
    ["SIGIOT", 6],
    ["SIGCLD", 17],
    ["SIGPOLL", 29],
    ["SIGRTMIN", 34],
    ["RTMIN+3", 37],
    ["SIGRTMAX-2", 62],
    ["SIGRTMAX", 64],
    ["RTMIN-1", undefined],
    ["RTMAX+1", undefined],
    ["RTMIN+31", undefined],
    ["0", undefined],
    ["65", undefined],
    ["SIGFOO", undefined],
    ["", undefined],
    ["-9", undefined],
  ];
  for (const [text, want] of table) assert.equal(parseSignal(text), want, JSON.stringify(text));
});

test("signalName: canonical names, real-time ones relative to RTMIN and RTMAX", () => {
  const table: [number, string | undefined][] = [
    [15, "SIGTERM"],
    [6, "SIGABRT"],
    [17, "SIGCHLD"],
    [29, "SIGIO"],
    [34, "SIGRTMIN"],
    [49, "SIGRTMIN+15"],
    [50, "SIGRTMAX-14"],
    [64, "SIGRTMAX"],
    [32, undefined],
    [0, undefined],
  ];
  for (const [n, want] of table) assert.equal(signalName(n), want, String(n));
});

test("CRI Signal enum maps by name, not by number", () => {
  const table: [Signal, number | undefined][] = [
    [Signal.RUNTIME_DEFAULT, undefined],
    [Signal.SIGKILL, 9], // 13 in CRI's numbering
    [Signal.SIGTERM, 15],
    [Signal.SIGHUP, 1],
    [Signal.SIGUSR1, 10],
    [Signal.SIGRTMIN, 34],
    [Signal.SIGRTMINPLUS1, 35],
    [Signal.SIGRTMINPLUS15, 49],
    [Signal.SIGRTMAXMINUS14, 50],
    [Signal.SIGRTMAXMINUS1, 63],
    [Signal.SIGRTMAX, 64],
    [999 as Signal, undefined],
  ];
  for (const [s, want] of table) assert.equal(criSignalNumber(s), want, Signal[s] ?? String(s));
});

test("every CRI signal round-trips through Linux numbers", () => {
  for (const v of Object.values(Signal)) {
    if (typeof v !== "number" || v === Signal.RUNTIME_DEFAULT) continue;
    const n = criSignalNumber(v);
    assert.ok(n !== undefined, Signal[v]);
    // Aliases (SIGIOT, SIGCLD, SIGPOLL) come back as their canonical name.
    assert.equal(criSignalNumber(criSignalOf(n)), n, Signal[v]);
  }
  assert.equal(criSignalOf(32), Signal.RUNTIME_DEFAULT);
});

test("stopSignal: config over image over SIGTERM", () => {
  assert.equal(stopSignal(Signal.RUNTIME_DEFAULT, ""), 15);
  assert.equal(stopSignal(Signal.RUNTIME_DEFAULT, "SIGQUIT"), 3);
  assert.equal(stopSignal(Signal.RUNTIME_DEFAULT, "2"), 2);
  assert.equal(stopSignal(Signal.SIGKILL, "SIGQUIT"), 9);
  assert.equal(stopSignal(Signal.SIGUSR2, ""), 12);
});

test("stopSignal: a bad image StopSignal or an unknown enum value is InvalidArgument naming the field", () => {
  throwsCode(() => stopSignal(Signal.RUNTIME_DEFAULT, "SIGNOPE"), Code.InvalidArgument, "image config StopSignal");
  throwsCode(() => stopSignal(777 as Signal, ""), Code.InvalidArgument, "stop_signal");
});
