/**
 * INTERIM: minimal pod and container specs, with the signatures of
 * src/mapping/pod-spec.ts and src/mapping/container-spec.ts, so the lifecycle
 * can be built and tested before the full mapping lands. Each function does
 * only what the lifecycle itself depends on (names, command, env, root
 * volume, network namespace, no Porto access from inside); the mapping
 * modules replace them wholesale. Pure, no I/O.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { constants } from "node:os";
import type { TContainerSpecSchema, TVolumeSpecSchema } from "../../gen/rpc_pb.js";
import { NamespaceMode } from "../../gen/runtime/v1/api_pb.js";
import type { ContainerConfig, PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../mapping/porto-names.js";
import { stdioSpec } from "../logs/porto-stdio.js";
import type { ImageRuntimeConfig } from "./images.js";

type ContainerSpecInit = MessageInitShape<typeof TContainerSpecSchema>;
type VolumeSpecInit = MessageInitShape<typeof TVolumeSpecSchema>;

export interface PodSpecInput {
  podId: string;
  config: PodSandboxConfig;
  /** Named network namespace to join; absent: a new one with loopback only (or the host's). */
  netns?: string;
  resolvConf?: string;
}

export function podSpec(input: PodSpecInput): ContainerSpecInit {
  const ns = input.config.linux?.securityContext?.namespaceOptions;
  const hostNetwork = ns?.network === NamespaceMode.NODE;
  const net = hostNetwork ? "inherited" : input.netns ? `netns ${input.netns}` : "none";
  const [opt, ...arg] = net.split(" ");
  return {
    name: podPortoName(input.podId),
    isolate: true,
    enablePorto: "false",
    net: { cfg: [{ opt, arg }] },
  };
}

export interface ContainerSpecInput {
  podId: string;
  containerId: string;
  pod: PodSandboxConfig;
  container: ContainerConfig;
  image: ImageRuntimeConfig;
  imageName: string;
  /** Host directory to make the container's root; its root volume is mounted there. */
  rootfs?: string;
}

export interface ContainerSpecResult {
  spec: ContainerSpecInit;
  volumes: VolumeSpecInit[];
  /** Signal number StopContainer sends first. */
  stopSignal: number;
  user: { uid: bigint; gid: bigint; supplementalGroups: bigint[] };
}

export function containerSpec(input: ContainerSpecInput): ContainerSpecResult {
  const { container: c, image } = input;
  const name = containerPortoName(input.podId, input.containerId);
  // containerd's rules: command replaces the entrypoint; args alone replace only cmd.
  const argv =
    c.command.length > 0
      ? [...c.command, ...c.args]
      : c.args.length > 0
        ? [...image.entrypoint, ...c.args]
        : [...image.entrypoint, ...image.cmd];
  const env = new Map<string, string>();
  for (const kv of image.env) {
    const eq = kv.indexOf("=");
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const kv of c.envs) env.set(kv.key, Buffer.from(kv.value).toString("utf8"));
  const spec: ContainerSpecInit = {
    name,
    commandArgv: { argv },
    env: { var: [...env].map(([n, value]) => ({ name: n, value })) },
    enablePorto: "false",
    ...stdioSpec(),
  };
  const cwd = c.workingDir || image.workingDir;
  if (cwd) spec.cwd = cwd;
  const volumes: VolumeSpecInit[] = [];
  if (input.rootfs) {
    spec.root = input.rootfs;
    volumes.push({ backend: "overlay", image: input.imageName, links: [{ container: name, target: "/" }] });
  }
  return {
    spec,
    volumes,
    stopSignal: parseSignal(image.stopSignal) ?? constants.signals.SIGTERM,
    user: { uid: 0n, gid: 0n, supplementalGroups: [] },
  };
}

/** "SIGQUIT", "QUIT" or "3" as a number; undefined when empty or unknown. */
export function parseSignal(text: string): number | undefined {
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const name = text.toUpperCase().startsWith("SIG") ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  return (constants.signals as Record<string, number | undefined>)[name];
}
