/**
 * Reading the pod's addresses out of a CNI ADD result (spec 0.3.0 to 1.x:
 * `ips[]` with `address` in CIDR form and an optional index into
 * `interfaces[]`). Pure, so the rules are unit-tested without plugins.
 */
import { isIP } from "node:net";

interface ResultInterface {
  name?: unknown;
  sandbox?: unknown;
}

interface ResultIp {
  address?: unknown;
  interface?: unknown;
}

/**
 * The pod's IPs: IPv4 first, then IPv6, each family in result order, as
 * containerd reports them (the first is the pod IP, the rest additional IPs).
 *
 * Like containerd, only addresses of the interface named `ifName` inside the
 * sandbox count, so a chained plugin's host-side addresses never become the
 * pod IP. Results whose `ips` carry no interface index at all (allowed by
 * the spec, and what some IPAM-only chains produce) count whole instead of
 * yielding no IP.
 */
export function podIps(result: unknown, ifName: string): string[] {
  if (typeof result !== "object" || result === null) return [];
  const r = result as { ips?: unknown; interfaces?: unknown };
  const ips = Array.isArray(r.ips) ? (r.ips as ResultIp[]) : [];
  const interfaces = Array.isArray(r.interfaces) ? (r.interfaces as ResultInterface[]) : [];
  const indexed = ips.some((ip) => typeof ip?.interface === "number");
  const chosen = ips.filter((ip) => {
    if (!indexed) return true;
    if (typeof ip?.interface !== "number") return false;
    const itf = interfaces[ip.interface];
    return itf !== undefined && itf.name === ifName && typeof itf.sandbox === "string" && itf.sandbox !== "";
  });
  const v4: string[] = [];
  const v6: string[] = [];
  for (const ip of chosen) {
    if (typeof ip?.address !== "string") continue;
    const bare = ip.address.split("/")[0]!;
    const family = isIP(bare);
    if (family === 4 && !v4.includes(bare)) v4.push(bare);
    if (family === 6 && !v6.includes(bare)) v6.push(bare);
  }
  return [...v4, ...v6];
}
