import { test } from "node:test";
import assert from "node:assert/strict";
import { podIps } from "../../src/network/cni-result.js";

test("IPv4 first, then IPv6, each in result order, only eth0 in the sandbox", () => {
  const result = {
    cniVersion: "1.0.0",
    interfaces: [{ name: "cni0" }, { name: "veth1" }, { name: "eth0", sandbox: "/var/run/netns/x" }, { name: "net1", sandbox: "/var/run/netns/x" }],
    ips: [
      { address: "fd99::5/64", interface: 2 },
      { address: "10.99.0.5/24", interface: 2, gateway: "10.99.0.1" },
      { address: "10.99.0.1/24", interface: 0 },
      { address: "192.168.7.5/24", interface: 3 },
      { address: "10.99.1.5/24", interface: 2 },
    ],
  };
  assert.deepEqual(podIps(result, "eth0"), ["10.99.0.5", "10.99.1.5", "fd99::5"]);
});

test("results without interface indexes count whole (0.3.x IPAM-only chains)", () => {
  const result = { cniVersion: "0.3.1", ips: [{ version: "6", address: "fd00::2/64" }, { version: "4", address: "10.0.0.2/24" }] };
  assert.deepEqual(podIps(result, "eth0"), ["10.0.0.2", "fd00::2"]);
});

test("nothing usable gives no IPs", () => {
  assert.deepEqual(podIps(undefined, "eth0"), []);
  assert.deepEqual(podIps({ ips: "x" }, "eth0"), []);
  assert.deepEqual(podIps({ ips: [{ address: "junk" }] }, "eth0"), []);
  assert.deepEqual(podIps({ interfaces: [{ name: "eth0" }], ips: [{ address: "10.0.0.2/24", interface: 0 }] }, "eth0"), []);
});
