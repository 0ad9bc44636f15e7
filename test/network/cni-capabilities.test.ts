import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PodSandboxConfigSchema, Protocol } from "../../gen/runtime/v1/api_pb.js";
import {
  bandwidthFromAnnotations,
  capabilityArgs,
  cniArgs,
  parseQuantity,
  PodNetworkInputError,
  podNetworkInput,
} from "../../src/network/cni-capabilities.js";
import type { PodNetworkInput } from "../../src/network/cni-capabilities.js";

const pod: PodNetworkInput = {
  id: "a".repeat(64),
  name: "web",
  namespace: "default",
  uid: "1234-5678",
  annotations: { "x/y": "z" },
  portMappings: [
    { protocol: Protocol.TCP, containerPort: 80, hostPort: 8080, hostIp: "" },
    { protocol: Protocol.UDP, containerPort: 53, hostPort: 5353, hostIp: "127.0.0.1" },
    { protocol: Protocol.SCTP, containerPort: 9, hostPort: 9, hostIp: "" },
    { protocol: Protocol.TCP, containerPort: 9090, hostPort: 0, hostIp: "" },
  ],
};

test("CNI_ARGS carry containerd's labels", () => {
  assert.deepEqual(cniArgs(pod), [
    ["IgnoreUnknown", "1"],
    ["K8S_POD_NAMESPACE", "default"],
    ["K8S_POD_NAME", "web"],
    ["K8S_POD_INFRA_CONTAINER_ID", "a".repeat(64)],
    ["K8S_POD_UID", "1234-5678"],
  ]);
  assert.throws(() => cniArgs({ ...pod, name: "a;b" }), PodNetworkInputError);
});

test("capabilities: host ports only, annotations always, dns and bandwidth when given, ipRanges from pod CIDRs", () => {
  assert.deepEqual(capabilityArgs(pod), {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: 5353, containerPort: 53, protocol: "udp", hostIP: "127.0.0.1" },
      { hostPort: 9, containerPort: 9, protocol: "sctp" },
    ],
    "io.kubernetes.cri.pod-annotations": { "x/y": "z" },
  });
  const full = capabilityArgs(
    {
      ...pod,
      portMappings: [],
      dnsConfig: { servers: ["10.96.0.10"], searches: ["default.svc.cluster.local"], options: ["ndots:5"] },
      annotations: { "kubernetes.io/ingress-bandwidth": "10M" },
    },
    ["10.244.1.0/24", "fd00:10:244:1::/64"],
  );
  assert.deepEqual(full, {
    portMappings: [],
    "io.kubernetes.cri.pod-annotations": { "kubernetes.io/ingress-bandwidth": "10M" },
    bandwidth: { ingressRate: 10_000_000, ingressBurst: 4294967295 },
    dns: { servers: ["10.96.0.10"], searches: ["default.svc.cluster.local"], options: ["ndots:5"] },
    ipRanges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:10:244:1::/64" }]],
  });
  const explicit = capabilityArgs({ ...pod, bandwidth: { egressRate: 5 } });
  assert.deepEqual(explicit.bandwidth, { egressRate: 5 });
});

test("bandwidth annotations: quantities, limits and refusals", () => {
  assert.equal(bandwidthFromAnnotations({}), undefined);
  assert.deepEqual(bandwidthFromAnnotations({ "kubernetes.io/egress-bandwidth": "1Mi" }), { egressRate: 1048576, egressBurst: 4294967295 });
  assert.throws(() => bandwidthFromAnnotations({ "kubernetes.io/egress-bandwidth": "fast" }), /not a quantity/);
  assert.throws(() => bandwidthFromAnnotations({ "kubernetes.io/ingress-bandwidth": "100" }), /below the minimum/);
  assert.throws(() => bandwidthFromAnnotations({ "kubernetes.io/ingress-bandwidth": "2P" }), /above the maximum/);
  assert.equal(parseQuantity("1.5G"), 1.5e9);
  assert.equal(parseQuantity("1e6"), 1e6);
  assert.equal(parseQuantity("500m"), 0.5);
  assert.equal(parseQuantity("10 M"), undefined);
});

test("the input comes straight from a RunPodSandbox config", () => {
  const config = create(PodSandboxConfigSchema, {
    metadata: { name: "web", namespace: "default", uid: "u1", attempt: 2 },
    annotations: { a: "b" },
    portMappings: [{ protocol: Protocol.TCP, containerPort: 80, hostPort: 8080 }],
    dnsConfig: { servers: ["10.96.0.10"] },
  });
  const input = podNetworkInput("f".repeat(64), config);
  assert.equal(input.name, "web");
  assert.equal(input.namespace, "default");
  assert.equal(input.uid, "u1");
  assert.deepEqual(capabilityArgs(input), {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    "io.kubernetes.cri.pod-annotations": { a: "b" },
    dns: { servers: ["10.96.0.10"], searches: [], options: [] },
  });
});
