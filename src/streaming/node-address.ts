/**
 * The host put into streaming URLs. kubelet (or crictl) connects to the URL
 * itself, so a wildcard listen address ([::], 0.0.0.0) cannot go into it.
 * We do what containerd does when stream_server_address is unset: use the
 * node's IP, that of the interface holding the default route
 * (apimachinery's ChooseHostInterface), IPv4 before IPv6; else any global
 * address; else loopback. An explicit StreamingServer.Address is used as is.
 */
import { readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import { networkInterfaces } from "node:os";
import type { NetworkInterfaceInfo } from "node:os";

const WILDCARDS = new Set(["", "::", "0.0.0.0", "[::]", "::0"]);

export function isWildcardAddress(address: string): boolean {
  return WILDCARDS.has(address);
}

/** Interfaces with a default route, IPv4 table first (from /proc/net/route and /proc/net/ipv6_route). */
export function defaultRouteInterfaces(readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): string[] {
  const out: string[] = [];
  try {
    for (const line of readFile("/proc/net/route").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // Iface Destination Gateway Flags ... Mask: a default route has destination and mask 0.
      if (f.length >= 8 && f[1] === "00000000" && f[7] === "00000000" && !out.includes(f[0])) out.push(f[0]);
    }
  } catch {
    // no procfs: fall through
  }
  try {
    for (const line of readFile("/proc/net/ipv6_route").split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && /^0{32}$/.test(f[0]) && f[1] === "00" && f[9] !== "lo" && !out.includes(f[9])) out.push(f[9]);
    }
  } catch {
    // no IPv6
  }
  return out;
}

function usable(a: NetworkInterfaceInfo): boolean {
  return !a.internal && !(a.family === "IPv6" && (a.address.startsWith("fe80") || a.scopeid !== 0));
}

/** The node's IP as described above. */
export function nodeAddress(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
  routeInterfaces: string[] = defaultRouteInterfaces(),
): string {
  const pick = (addrs: NetworkInterfaceInfo[]) =>
    addrs.find((a) => usable(a) && a.family === "IPv4") ?? addrs.find((a) => usable(a) && a.family === "IPv6");
  for (const name of routeInterfaces) {
    const a = pick(interfaces[name] ?? []);
    if (a) return a.address;
  }
  const a = pick(Object.values(interfaces).flatMap((v) => v ?? []));
  return a ? a.address : "127.0.0.1";
}

/** `host:port` for a URL, IPv6 in brackets. */
export function hostPort(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return isIPv6(bare) ? `[${bare}]:${port}` : `${bare}:${port}`;
}
