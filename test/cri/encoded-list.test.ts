/**
 * List replies with items encoded once (src/cri/encoded-list.ts): what goes
 * on the wire decodes to exactly the reply the reflective encoder would have
 * built, for every state, and each object's fixed bytes are encoded once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ContainerSchema,
  ContainerState,
  ListContainersResponseSchema,
  ListPodSandboxResponseSchema,
  PodSandboxSchema,
  PodSandboxState,
} from "../../gen/runtime/v1/api_pb.js";
import { encodedList, encodeOnce } from "../../src/cri/encoded-list.js";

const container = (i: number) =>
  create(ContainerSchema, {
    id: `c${i}`.padEnd(64, "0"),
    podSandboxId: "p".padEnd(64, "1"),
    metadata: { name: `ctr-${i}`, attempt: i },
    image: { image: "registry.k8s.io/pause:3.7", annotations: { a: "b" } },
    imageRef: "sha256:" + "e".repeat(64),
    imageId: "sha256:" + "f".repeat(64),
    createdAt: 1_700_000_000_000_000_000n + BigInt(i),
    labels: { "io.kubernetes.pod.name": "web", "é": "ünïcode 🚀" },
    annotations: { "io.kubernetes.container.hash": "abcd" },
  });

test("ListContainers: decodes to the same reply as the reflective encoder, every state, CREATED (0) included, in order", () => {
  const states = [ContainerState.CONTAINER_CREATED, ContainerState.CONTAINER_RUNNING, ContainerState.CONTAINER_EXITED, ContainerState.CONTAINER_UNKNOWN];
  const fixed = states.map((_, i) => container(i));
  const reply = encodedList(
    ListContainersResponseSchema,
    ListContainersResponseSchema.field.containers.number,
    fixed.map((c, i) => ({ fixed: toBinary(ContainerSchema, c), enumField: ContainerSchema.field.state.number, enumValue: states[i]! })),
  );
  const wire = fromBinary(ListContainersResponseSchema, toBinary(ListContainersResponseSchema, reply));
  const want = create(ListContainersResponseSchema, { containers: fixed.map((c, i) => ({ ...c, state: states[i] })) });
  assert.ok(equals(ListContainersResponseSchema, wire, want), JSON.stringify(wire.containers.map((c) => c.state)));
  assert.deepEqual(wire.$unknown ?? [], [], "nothing left unknown to a reader");
});

test("ListPodSandbox: the same for pods, NOTREADY and READY", () => {
  const pod = create(PodSandboxSchema, { id: "x".repeat(64), metadata: { name: "p", namespace: "n", uid: "u", attempt: 1 }, createdAt: 5n, labels: { k: "v" }, runtimeHandler: "porto" });
  const fixedBytes = toBinary(PodSandboxSchema, pod);
  for (const state of [PodSandboxState.SANDBOX_READY, PodSandboxState.SANDBOX_NOTREADY]) {
    const reply = encodedList(ListPodSandboxResponseSchema, 1, [{ fixed: fixedBytes, enumField: PodSandboxSchema.field.state.number, enumValue: state }]);
    const wire = fromBinary(ListPodSandboxResponseSchema, toBinary(ListPodSandboxResponseSchema, reply));
    assert.ok(equals(ListPodSandboxResponseSchema, wire, create(ListPodSandboxResponseSchema, { items: [{ ...pod, state }] })));
  }
  const empty = fromBinary(ListPodSandboxResponseSchema, toBinary(ListPodSandboxResponseSchema, encodedList(ListPodSandboxResponseSchema, 1, [])));
  assert.equal(empty.items.length, 0);
});

test("encodeOnce: one encoding per key object, another key another encoding", () => {
  let calls = 0;
  const a = {};
  const b = {};
  const enc = () => (calls++, new Uint8Array([calls]));
  const first = encodeOnce(a, enc);
  assert.equal(encodeOnce(a, enc), first);
  assert.notEqual(encodeOnce(b, enc), first);
  assert.equal(calls, 2);
});
