import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { NamespaceMode, NamespaceOptionSchema } from "../../gen/runtime/v1/api_pb.js";
import { containerIsolate, podNamespaces } from "../../src/mapping/namespaces.js";
import { throwsCode } from "./helpers.js";

const { POD, CONTAINER, NODE, TARGET } = NamespaceMode;
const ns = (init: Parameters<typeof create<typeof NamespaceOptionSchema>>[1]) => create(NamespaceOptionSchema, init);

test("pod namespaces: own pid/ipc/uts unless pid or ipc is the host's", () => {
  const table: [string, ReturnType<typeof ns> | undefined, ReturnType<typeof podNamespaces>][] = [
    ["no options", undefined, { isolate: true, hostNetwork: false, hostPidIpc: false }],
    ["kubelet default", ns({ network: POD, pid: CONTAINER, ipc: POD }), { isolate: true, hostNetwork: false, hostPidIpc: false }],
    ["hostNetwork", ns({ network: NODE, pid: CONTAINER, ipc: POD }), { isolate: true, hostNetwork: true, hostPidIpc: false }],
    ["hostPID", ns({ pid: NODE }), { isolate: false, hostNetwork: false, hostPidIpc: true }],
    ["hostIPC", ns({ ipc: NODE }), { isolate: false, hostNetwork: false, hostPidIpc: true }],
    ["userns NODE", ns({ usernsOptions: { mode: NODE } }), { isolate: true, hostNetwork: false, hostPidIpc: false }],
  ];
  for (const [name, opts, want] of table) assert.deepEqual(podNamespaces(opts), want, name);
  throwsCode(() => podNamespaces(ns({ usernsOptions: { mode: POD, uids: [{ hostId: 1000, containerId: 0, length: 65536 }] } })), Code.Unimplemented, "userns_options");
});

test("container isolate: own pid namespace only for pid CONTAINER in an isolated pod", () => {
  const podDefault = ns({ pid: CONTAINER, ipc: POD });
  const table: [string, ReturnType<typeof ns> | undefined, ReturnType<typeof ns> | undefined, boolean][] = [
    ["pid CONTAINER", podDefault, ns({ pid: CONTAINER, ipc: POD }), true],
    ["pid POD (shareProcessNamespace)", ns({ pid: POD }), ns({ pid: POD, ipc: POD }), false],
    ["pid TARGET", podDefault, ns({ pid: TARGET, targetId: "abc" }), false],
    ["pid NODE", ns({ pid: NODE }), ns({ pid: NODE }), false],
    ["ipc NODE with pid CONTAINER: the host's pid too", ns({ ipc: NODE }), ns({ pid: CONTAINER, ipc: NODE }), false],
    ["pod hostPID, container pid CONTAINER: no nested namespace", ns({ pid: NODE }), ns({ pid: CONTAINER }), false],
    ["no options: POD, as containerd reads the zero value", undefined, undefined, false],
  ];
  for (const [name, p, c, want] of table) assert.equal(containerIsolate(p, c), want, name);
  throwsCode(() => containerIsolate(podDefault, ns({ pid: TARGET })), Code.InvalidArgument, "target_id");
});
