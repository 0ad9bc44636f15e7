import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { DNSConfigSchema, NamespaceMode } from "../../gen/runtime/v1/api_pb.js";
import { AGING_TIME_FOREVER, normalizeSysctlName, podSpec, podSysctls, resolvConfText } from "../../src/mapping/pod-spec.js";
import { ALL_CAPABILITIES } from "../../src/mapping/security.js";
import { pod, throwsCode } from "./helpers.js";

const ID = "a".repeat(64);
const dns = (init: Parameters<typeof create<typeof DNSConfigSchema>>[1]) => create(DNSConfigSchema, init);

test("the default pod: a meta container with its own namespaces, loopback-only network, no Porto access", () => {
  assert.deepEqual(podSpec({ podId: ID, config: pod({ hostname: "web-0" }) }), {
    name: `k8s-${ID}`,
    weak: false,
    labels: { map: [{ key: "CRI.managed", val: "portoshim" }, { key: "CRI.id", val: ID }, { key: "CRI.kind", val: "pod" }] },
    isolate: true,
    net: { cfg: [{ opt: "none" }] },
    enablePorto: "false",
    agingTime: AGING_TIME_FOREVER,
    capabilities: { cap: [...ALL_CAPABILITIES] },
    devices: { device: [] },
    oomIsFatal: false,
    hostname: "web-0",
  });
});

test("pod network: host's, a named netns, or none", () => {
  const hostNet = pod({ linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } });
  assert.deepEqual(podSpec({ podId: ID, config: hostNet }).net, { cfg: [{ opt: "inherited" }] });
  assert.deepEqual(podSpec({ podId: ID, config: hostNet, netns: "cni-1" }).net, { cfg: [{ opt: "inherited" }] }, "hostNetwork wins");
  assert.deepEqual(podSpec({ podId: ID, config: pod(), netns: "cni-1" }).net, { cfg: [{ opt: "netns", arg: ["cni-1"] }] });
});

test("hostPID or hostIPC: the pod shares the host's pid and ipc namespaces", () => {
  for (const opts of [{ pid: NamespaceMode.NODE }, { ipc: NamespaceMode.NODE }]) {
    assert.equal(podSpec({ podId: ID, config: pod({ linux: { securityContext: { namespaceOptions: opts } } }) }).isolate, false);
  }
});

test("no hostname, no DNS: neither property set (Porto gives the host's resolv.conf)", () => {
  const s = podSpec({ podId: ID, config: pod() });
  assert.equal(s.hostname, undefined);
  assert.equal(s.resolvConf, undefined);
});

test("resolv.conf as containerd writes it; an explicit text wins", () => {
  assert.equal(
    resolvConfText(dns({ servers: ["10.96.0.10", "8.8.8.8"], searches: ["ns.svc.cluster.local", "svc.cluster.local"], options: ["ndots:5", "edns0"] })),
    "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver 8.8.8.8\noptions ndots:5 edns0\n",
  );
  assert.equal(resolvConfText(dns({ servers: ["1.1.1.1"] })), "nameserver 1.1.1.1\n");
  assert.equal(resolvConfText(dns({})), undefined);
  assert.equal(resolvConfText(undefined), undefined);
  const config = pod({ dnsConfig: { servers: ["1.1.1.1"] } });
  assert.equal(podSpec({ podId: ID, config }).resolvConf, "nameserver 1.1.1.1\n");
  assert.equal(podSpec({ podId: ID, config, resolvConf: "nameserver 9.9.9.9\n" }).resolvConf, "nameserver 9.9.9.9\n");
  throwsCode(() => resolvConfText(dns({ servers: ["1.1.1.1;evil"] })), Code.InvalidArgument, "dns_config.servers[0]");
  throwsCode(() => resolvConfText(dns({ searches: ["a", "b\nnameserver x"] })), Code.InvalidArgument, "dns_config.searches[1]");
  throwsCode(() => resolvConfText(dns({ options: [""] })), Code.InvalidArgument, "dns_config.options[0]");
});

test("sysctls: net.* need the pod's network namespace, IPC ones its IPC namespace, others refused", () => {
  assert.deepEqual(
    podSysctls({ "net.ipv4.ip_local_port_range": "1024 65000", "kernel.shm_rmid_forced": "1", "net/ipv4/conf/eth0.100/rp_filter": "0" }, { ownNetwork: true, ownIpc: true }),
    [
      ["kernel.shm_rmid_forced", "1"],
      ["net.ipv4.conf.eth0/100.rp_filter", "0"],
      ["net.ipv4.ip_local_port_range", "1024 65000"],
    ],
  );
  const t = (s: Record<string, string>, where: { ownNetwork: boolean; ownIpc: boolean }, frag: string) =>
    throwsCode(() => podSysctls(s, where), Code.InvalidArgument, frag);
  t({ "net.core.somaxconn": "1024" }, { ownNetwork: false, ownIpc: true }, 'linux.sysctls["net.core.somaxconn"]: needs the pod\'s own network');
  t({ "kernel.msgmax": "1" }, { ownNetwork: true, ownIpc: false }, "own IPC namespace");
  t({ "kernel.domainname": "x" }, { ownNetwork: true, ownIpc: true }, "Porto sets only net.* and IPC sysctls");
  t({ "vm.swappiness": "1" }, { ownNetwork: true, ownIpc: true }, 'linux.sysctls["vm.swappiness"]');
  t({ "kernel.sem": "1;2" }, { ownNetwork: true, ownIpc: true }, "not a valid value");
  const s = podSpec({ podId: ID, config: pod({ linux: { sysctls: { "kernel.sem": "250 32000 32 128" } } }) });
  assert.deepEqual(s.sysctl, { map: [{ key: "kernel.sem", val: "250 32000 32 128" }] });
  throwsCode(
    () => podSpec({ podId: ID, config: pod({ linux: { sysctls: { "net.core.somaxconn": "1" }, securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } }) }),
    Code.InvalidArgument,
    "linux.sysctls",
  );
});

test("sysctl names in slash form swap . and /", () => {
  assert.equal(normalizeSysctlName("net/ipv4/conf/eth0.100/rp_filter"), "net.ipv4.conf.eth0/100.rp_filter");
  assert.equal(normalizeSysctlName("kernel.shm_rmid_forced"), "kernel.shm_rmid_forced");
});

test("pod resources: containers' total plus overhead, no oom_score_adj on the pod", () => {
  const s = podSpec({
    podId: ID,
    config: pod({
      linux: {
        resources: { cpuShares: 2048n, cpuQuota: 200_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 1n << 30n, oomScoreAdj: -997n },
        overhead: { memoryLimitInBytes: 64n << 20n },
      },
    }),
  });
  assert.equal(s.cpuGuarantee, 2);
  assert.equal(s.cpuLimit, 2);
  assert.equal(s.cpuPeriod, 100_000_000n);
  assert.equal(s.memoryLimit, (1n << 30n) + (64n << 20n));
  assert.equal(s.oomScoreAdj, undefined);
});

test("pod errors name the field: user namespaces", () => {
  throwsCode(
    () => podSpec({ podId: ID, config: pod({ linux: { securityContext: { namespaceOptions: { usernsOptions: { mode: NamespaceMode.POD, uids: [{ hostId: 1, containerId: 0, length: 1 }] } } } } }) }),
    Code.Unimplemented,
    "linux.security_context.namespace_options.userns_options",
  );
});
