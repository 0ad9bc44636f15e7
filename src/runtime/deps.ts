/**
 * What the lifecycle handlers (src/cri/runtime/*) need from the rest of the
 * shim. main.ts builds it; tests build it around the Porto double.
 */
import type { Logger } from "pino";
import type { PortoClient } from "../porto/client.js";
import type { RuntimeState } from "./runtime-state.js";
import type { ImageResolver } from "./images.js";
import type { PodNetwork } from "./network.js";
import type { HostFacts } from "../mapping/host-facts.js";
import type { ContainerLogManager } from "../logs/index.js";
import type { ContainerStdio } from "../streaming/container-stdio.js";

export interface RuntimeDeps {
  porto: PortoClient;
  state: RuntimeState;
  /** Finds pulled images for CreateContainer. */
  images: ImageResolver;
  /** The pod network (netns and CNI); without one pods get loopback only. */
  network?: PodNetwork;
  logger: Logger;
  /** Portoshim.VolumesDir: containers' root directories live here. */
  volumesDir: string;
  /** Porto.ImagesDir: portod's image store, whose unpacked layers show an image's /etc/passwd and /etc/group. */
  imagesDir?: string;
  /** The node as the mapping needs it (host.ts); without it privileged containers get no host devices, etc. */
  host?: HostFacts;
  /** Lowest oom_score_adj portod can set here (host.ts minOomScoreAdj); 0 when absent. */
  minOomScoreAdj?: number;
  /** Runtime handlers RunPodSandbox accepts besides "" (the runtime name, e.g. "porto"). */
  runtimeHandlers: readonly string[];
  /**
   * Containers' CRI logs (src/logs): started with the container, flushed
   * before EXITED is reported, reopened for kubelet, forgotten at removal.
   * Without it nothing is logged.
   */
  logs?: ContainerLogManager;
  /**
   * The main process' stdio for attach (src/streaming/container-stdio.ts):
   * StartContainer gives a container created with `tty: true` a terminal, one
   * created with `stdin: true` a FIFO the shim can feed; removal releases
   * them. Without it such containers read /dev/null and have no terminal.
   */
  stdio?: Pick<ContainerStdio, "prepareStdin" | "prepareTty" | "release">;
}
