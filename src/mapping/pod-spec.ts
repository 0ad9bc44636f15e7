/**
 * The pod's Porto container. Where each PodSandboxConfig field goes:
 *
 *   metadata, labels, annotations, log_directory, port_mappings,
 *   cgroup_parent        not Porto properties: the lifecycle's records keep them
 *                        (Porto puts its cgroups under its own hierarchy; kubelet's
 *                        cgroup_parent cannot be honoured, only reported back)
 *   hostname             hostname (the pod's UTS namespace and /etc/hostname)
 *   dns_config           resolv_conf, as containerd writes it (search, nameserver, options)
 *   namespace_options    isolate and net (namespaces.ts); netns <name> when CNI made one
 *   linux.sysctls        sysctl: net.* (own network namespace) and IPC ones (own IPC namespace)
 *   linux.resources + overhead   the pod's limits (resources.ts)
 *   privileged           nothing more: the pod already bounds its children with every capability
 *   security_context run_as_user/run_as_group/readonly_rootfs/seccomp/apparmor/selinux
 *                        apply to the sandbox's own process, which here is portoinit: nothing to do
 *
 * Pause image or meta container: a meta container. Measured on portod 5.3.59
 * here (CreateFromSpec with start, 10 runs each, median): a meta container
 * with isolate=true, net=none and a hostname took 8.7 ms; the same running
 * registry.k8s.io/pause:3.7 from an overlay root volume took 16.8 ms, and
 * keeps a volume and a process per pod. Porto runs portoinit in a meta
 * container that has namespaces of its own, and that portoinit holds them:
 * a child with isolate=false saw PID 1 = "portoinit --container <pod>", the
 * pod's hostname and a network namespace with only lo (UP, 127.0.0.1/8, ::1);
 * a child with isolate=true got a nested pid namespace, the pod's hostname and
 * the same network. So the pod runs no image, Images.PauseImage is not pulled
 * for it, and the sandbox "process" is portoinit.
 *
 * Always: enable_porto=false (no workload reaches portod), weak=false,
 * aging_time far beyond any pod's life (dead containers stay until removed),
 * every capability (the pod's set bounds its children's), the devices
 * controller on with no extra devices (so devices can be granted later: see
 * mounts.ts podDeviceGrant), oom_is_fatal=false (an OOM kill takes one task,
 * as with runc, not the whole pod).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { TContainerSpecSchema } from "../../gen/rpc_pb.js";
import type { DNSConfig, PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import { podNamespaces } from "./namespaces.js";
import { podPortoName } from "./porto-names.js";
import { shimLabels } from "./porto-labels.js";
import { podResources, resourcesSpec } from "./resources.js";
import { ALL_CAPABILITIES } from "./security.js";
import type { SpecFields } from "./spec-fields.js";

type SpecInit = MessageInitShape<typeof TContainerSpecSchema>;

/** 100 years in seconds: portod keeps dead containers this long (it counts in ms in a uint64). */
export const AGING_TIME_FOREVER = 100n * 365n * 24n * 3600n;

export interface PodSpecInput {
  podId: string;
  config: PodSandboxConfig;
  /** A named network namespace under /var/run/netns to join (CNI); absent: a new one with loopback only. */
  netns?: string;
  /** resolv.conf text to use instead of what dns_config gives. */
  resolvConf?: string;
}

export function podSpec(input: PodSpecInput): SpecInit {
  const { config } = input;
  const ns = podNamespaces(config.linux?.securityContext?.namespaceOptions);
  const spec: SpecFields = {
    name: podPortoName(input.podId),
    weak: false,
    labels: shimLabels("pod", input.podId),
    isolate: ns.isolate,
    net: { cfg: [ns.hostNetwork ? { opt: "inherited" } : input.netns ? { opt: "netns", arg: [input.netns] } : { opt: "none" }] },
    enablePorto: "false",
    agingTime: AGING_TIME_FOREVER,
    capabilities: { cap: [...ALL_CAPABILITIES] },
    devices: { device: [] },
    oomIsFatal: false,
  };
  if (config.hostname !== "") spec.hostname = config.hostname;
  const resolv = input.resolvConf ?? resolvConfText(config.dnsConfig);
  if (resolv !== undefined) spec.resolvConf = resolv;
  const sysctls = podSysctls(config.linux?.sysctls ?? {}, { ownNetwork: !ns.hostNetwork, ownIpc: ns.isolate });
  if (sysctls.length > 0) spec.sysctl = { map: sysctls.map(([key, val]) => ({ key, val })) };
  const { spec: limits } = resourcesSpec(podResources(config.linux), { field: "linux.resources" });
  // The pod has no process of its own to adjust.
  delete limits.oomScoreAdj;
  return { ...spec, ...limits };
}

/**
 * resolv.conf from DNSConfig as containerd writes it: "search", then one
 * "nameserver" line per server, then "options"; undefined when all are empty
 * (Porto then gives containers the host's resolv.conf, as containerd copies it).
 * Porto's resolv_conf property takes the file's text; it turns ";" into line
 * breaks, so entries may contain neither.
 */
export function resolvConfText(dns: DNSConfig | undefined): string | undefined {
  if (!dns) return undefined;
  const check = (list: string[], what: string) =>
    list.forEach((s, i) => {
      if (/[;\n\r\0]/.test(s) || s.trim() === "")
        throw new ConnectError(`dns_config.${what}[${i}]: ${JSON.stringify(s)} is not a valid entry`, Code.InvalidArgument);
    });
  check(dns.servers, "servers");
  check(dns.searches, "searches");
  check(dns.options, "options");
  let text = "";
  if (dns.searches.length > 0) text += `search ${dns.searches.join(" ")}\n`;
  for (const s of dns.servers) text += `nameserver ${s}\n`;
  if (dns.options.length > 0) text += `options ${dns.options.join(" ")}\n`;
  return text === "" ? undefined : text;
}

/** Namespaced IPC sysctls portod sets (src/task.cpp IpcSysctls); they need the container's own IPC namespace. */
export const IPC_SYSCTLS: readonly string[] = [
  "fs.mqueue.queues_max",
  "fs.mqueue.msg_max",
  "fs.mqueue.msgsize_max",
  "fs.mqueue.msg_default",
  "fs.mqueue.msgsize_default",
  "kernel.shmmax",
  "kernel.shmall",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
  "kernel.msgmax",
  "kernel.msgmni",
  "kernel.msgmnb",
  "kernel.sem",
];

/** "net/ipv4/conf/eth0.100/rp_filter" (slash form, as Kubernetes allows) as "net.ipv4.conf.eth0/100.rp_filter". */
export function normalizeSysctlName(name: string): string {
  if (!name.includes("/")) return name;
  return [...name].map((c) => (c === "/" ? "." : c === "." ? "/" : c)).join("");
}

/**
 * The pod's sysctls, sorted by name, as portod will take them: net.* need the
 * pod's own network namespace, the IPC ones its own IPC namespace; portod
 * refuses any other name ("Sysctl ... is not allowed"), so those are refused
 * here, naming the key.
 */
export function podSysctls(
  sysctls: Record<string, string>,
  where: { ownNetwork: boolean; ownIpc: boolean },
): [string, string][] {
  const out: [string, string][] = [];
  for (const [raw, value] of Object.entries(sysctls)) {
    const name = normalizeSysctlName(raw);
    const field = `linux.sysctls[${JSON.stringify(raw)}]`;
    if (name.startsWith("net.")) {
      if (!where.ownNetwork) throw new ConnectError(`${field}: needs the pod's own network namespace (hostNetwork)`, Code.InvalidArgument);
    } else if (IPC_SYSCTLS.includes(name)) {
      if (!where.ownIpc) throw new ConnectError(`${field}: needs the pod's own IPC namespace (hostIPC or hostPID)`, Code.InvalidArgument);
    } else throw new ConnectError(`${field}: Porto sets only net.* and IPC sysctls`, Code.InvalidArgument);
    if (/[;\n]/.test(value)) throw new ConnectError(`${field}: ${JSON.stringify(value)} is not a valid value`, Code.InvalidArgument);
    out.push([name, value]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
