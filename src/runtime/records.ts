/**
 * What the shim keeps about each pod and container besides Porto: one JSON
 * record per object in Portoshim.StateDir (see store/record-store.ts for the
 * crash-safety rules).
 *
 * The CRI config a call came with is kept as its protobuf encoding (base64),
 * not as hand-picked fields: metadata, labels and annotations then come back
 * byte-exact whatever they contain, and later calls (logs, exec, stats,
 * resource updates) find every detail the config had. Porto keeps what runs;
 * a record never says whether something runs.
 *
 * Times are nanoseconds since the epoch as decimal strings (JSON has no
 * 64-bit integers). Porto's own times are whole seconds; these keep the
 * sub-second precision and the order of creation CRI callers rely on.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ContainerConfigSchema, PodSandboxConfigSchema } from "../../gen/runtime/v1/api_pb.js";
import type { ContainerConfig, PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";

/** Layout version of the records below; a reader refuses newer ones. */
export const RECORD_VERSION = 1;

export interface PodRecord {
  v: number;
  id: string;
  /** PodSandboxConfig, protobuf binary, base64. */
  config: string;
  runtimeHandler: string;
  createdAtNs: string;
  /**
   * "ready" from RunPodSandbox until StopPodSandbox, which makes it
   * "notready" for good: CRI has no way back to ready.
   */
  state: "ready" | "notready";
  /** Network namespace file the pod uses, when CNI set one up (the network removes it with the pod). */
  netnsPath?: string;
  /** The pod's IPs from CNI ADD, IPv4 first (pod IP, then additional IPs); dropped when the pod stops. */
  ips?: string[];
  /** Pod CIDR in force when the pod was made (UpdateRuntimeConfig), for the network's use. */
  podCidr?: string;
}

export interface ContainerRecord {
  v: number;
  id: string;
  podId: string;
  /** ContainerConfig, protobuf binary, base64. */
  config: string;
  createdAtNs: string;
  /** Set by StartContainer once Porto started it. */
  startedAtNs?: string;
  /** Set by StopContainer once the process is gone; Porto's death_time (seconds) otherwise. */
  finishedAtNs?: string;
  /** The image as resolved at creation. */
  image: {
    /** ImageSpec.image as the caller gave it. */
    requested: string;
    /** Image id, "sha256:<hex>". */
    id: string;
    /** image_ref: a repo digest when the image has one, else the id. */
    ref: string;
    /** The name Porto knows it by (a repo:tag). */
    name: string;
  };
  /** Where kubelet reads the container's log ("" when the pod has no log directory). */
  logPath: string;
  /** Signal number StopContainer sends first (image StopSignal, else SIGTERM). */
  stopSignal: number;
  /** The identity the process runs as, as decided at creation. */
  user?: { uid: string; gid: string; supplementalGroups: string[] };
  /** Host directory that is the container's root (its root volume is mounted there). */
  rootPath?: string;
  /** Why StartContainer failed, when it did: the container reads as exited with it. */
  startError?: { message: string; atNs: string };
  /** Exit code the shim observed when Porto no longer has it (its state was reset). */
  exitCode?: number;
  /**
   * For a container started with a terminal: the file its holder copies the
   * terminal's output to (streaming/tty-holder.ts), which its CRI log
   * follows instead of portod's files. Written before the start, so a shim
   * that dies right after it still logs the container from the right file;
   * a container created with tty by a shim without terminals has none.
   */
  ttyOutputPath?: string;
}

/** The record's config, decoded; refuses records written by a newer shim. */
export function podConfigOf(record: PodRecord): PodSandboxConfig {
  checkVersion(record.v, record.id);
  return fromBinary(PodSandboxConfigSchema, Buffer.from(record.config, "base64"));
}

export function containerConfigOf(record: ContainerRecord): ContainerConfig {
  checkVersion(record.v, record.id);
  return fromBinary(ContainerConfigSchema, Buffer.from(record.config, "base64"));
}

export function encodePodConfig(config: PodSandboxConfig): string {
  return Buffer.from(toBinary(PodSandboxConfigSchema, config)).toString("base64");
}

export function encodeContainerConfig(config: ContainerConfig): string {
  return Buffer.from(toBinary(ContainerConfigSchema, config)).toString("base64");
}

/** Now, in nanoseconds since the epoch, strictly increasing within this process. */
export function nowNs(): bigint {
  const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  // Two calls in the same millisecond could otherwise go backwards (the hrtime part wraps).
  lastNs = ns > lastNs ? ns : lastNs + 1n;
  return lastNs;
}
let lastNs = 0n;

function checkVersion(v: number, id: string): void {
  if (v > RECORD_VERSION) throw new Error(`record ${id} has layout ${v}, newer than this portoshim (${RECORD_VERSION})`);
}
