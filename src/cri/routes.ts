/**
 * Which handler answers which CRI method. Methods not listed here answer
 * UNIMPLEMENTED (connect's router fills them in), never UNKNOWN.
 */
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { ImageService, RuntimeService } from "../../gen/runtime/v1/api_pb.js";
import { version } from "./runtime/version.js";
import type { VersionDeps } from "./runtime/version.js";
import { status } from "./runtime/status.js";
import type { StatusDeps } from "./runtime/status.js";
import { runtimeConfig } from "./runtime/runtime-config.js";
import { runPodSandbox } from "./runtime/run-pod-sandbox.js";
import { stopPodSandbox } from "./runtime/stop-pod-sandbox.js";
import { removePodSandbox } from "./runtime/remove-pod-sandbox.js";
import { podSandboxStatus } from "./runtime/pod-sandbox-status.js";
import { listPodSandbox } from "./runtime/list-pod-sandbox.js";
import { createContainer } from "./runtime/create-container.js";
import { startContainer } from "./runtime/start-container.js";
import { stopContainer } from "./runtime/stop-container.js";
import { removeContainer } from "./runtime/remove-container.js";
import { listContainers } from "./runtime/list-containers.js";
import { containerStatus } from "./runtime/container-status.js";
import { updateRuntimeConfig } from "./runtime/update-runtime-config.js";
import { reopenContainerLog } from "./runtime/reopen-container-log.js";
import { exec } from "./runtime/exec.js";
import { execSync } from "./runtime/exec-sync.js";
import { attach } from "./runtime/attach.js";
import { portForward } from "./runtime/port-forward.js";
import { containerStats, listContainerStats, streamContainerStats } from "./runtime/container-stats.js";
import { listPodSandboxStats, podSandboxStats, streamPodSandboxStats } from "./runtime/pod-sandbox-stats.js";
import { listMetricDescriptors, listPodSandboxMetrics, streamPodSandboxMetrics } from "./runtime/pod-sandbox-metrics.js";
import { updateContainerResources } from "./runtime/update-container-resources.js";
import { updatePodSandboxResources } from "./runtime/update-pod-sandbox-resources.js";
import { getContainerEvents } from "./runtime/get-container-events.js";
import type { StreamingDeps } from "./runtime/streaming-deps.js";
import type { RuntimeDeps } from "../runtime/deps.js";
import type { ImageDeps } from "./image/deps.js";
import { listImages, streamImages } from "./image/list-images.js";
import { imageStatus } from "./image/image-status.js";
import { pullImage } from "./image/pull-image.js";
import { removeImage } from "./image/remove-image.js";
import { imageFsInfo } from "./image/image-fs-info.js";

export type CriDeps = VersionDeps &
  StatusDeps & {
    /** The pod and container lifecycle: records, Porto, images. */
    runtime: RuntimeDeps;
    /** The ImageService: portod's image store, the image records, store usage. */
    image: ImageDeps;
    /** Exec, ExecSync, Attach, PortForward; without it they answer UNIMPLEMENTED. */
    streaming?: StreamingDeps;
  };

export function criRoutes(deps: CriDeps): (router: ConnectRouter) => void {
  return (router) => {
    router.service(RuntimeService, {
      version: (req) => version(deps, req),
      status: (req) => status(deps, req),
      runtimeConfig: () => runtimeConfig(),
      runPodSandbox: (req) => runPodSandbox(deps.runtime, req),
      stopPodSandbox: (req) => stopPodSandbox(deps.runtime, req),
      removePodSandbox: (req) => removePodSandbox(deps.runtime, req),
      podSandboxStatus: (req) => podSandboxStatus(deps.runtime, req),
      listPodSandbox: (req) => listPodSandbox(deps.runtime, req),
      createContainer: (req) => createContainer(deps.runtime, req),
      startContainer: (req) => startContainer(deps.runtime, req),
      stopContainer: (req) => stopContainer(deps.runtime, req),
      removeContainer: (req) => removeContainer(deps.runtime, req),
      listContainers: (req) => listContainers(deps.runtime, req),
      containerStatus: (req) => containerStatus(deps.runtime, req),
      updateRuntimeConfig: (req) => updateRuntimeConfig(deps.runtime, req),
      ...statsService(deps.runtime),
      reopenContainerLog: (req) => reopenContainerLog(deps.runtime, req),
      ...(deps.streaming ? streamingService(deps.streaming) : {}),
    });
    router.service(ImageService, imageService(deps.image));
  };
}

/** The streaming RPCs of the RuntimeService. */
function streamingService(deps: StreamingDeps): Partial<ServiceImpl<typeof RuntimeService>> {
  return {
    exec: (req) => exec(deps, req),
    execSync: (req, ctx) => execSync(deps, req, ctx.signal),
    attach: (req) => attach(deps, req),
    portForward: (req) => portForward(deps, req),
  };
}

/** Stats, metrics, resource updates and container events: the RuntimeService's observation side. */
function statsService(deps: RuntimeDeps): Partial<ServiceImpl<typeof RuntimeService>> {
  return {
    containerStats: (req) => containerStats(deps, req),
    listContainerStats: (req) => listContainerStats(deps, req),
    streamContainerStats: (req) => streamContainerStats(deps, req),
    podSandboxStats: (req) => podSandboxStats(deps, req),
    listPodSandboxStats: (req) => listPodSandboxStats(deps, req),
    streamPodSandboxStats: (req) => streamPodSandboxStats(deps, req),
    listMetricDescriptors: () => listMetricDescriptors(),
    listPodSandboxMetrics: () => listPodSandboxMetrics(deps),
    streamPodSandboxMetrics: () => streamPodSandboxMetrics(deps),
    updateContainerResources: (req) => updateContainerResources(deps, req),
    updatePodSandboxResources: (req) => updatePodSandboxResources(deps, req),
    getContainerEvents: (req, ctx) => getContainerEvents(deps, req, ctx.signal),
  };
}

/** The ImageService's handlers. */
export function imageService(deps: ImageDeps): ServiceImpl<typeof ImageService> {
  return {
    listImages: (req) => listImages(deps, req),
    streamImages: (req) => streamImages(deps, req),
    imageStatus: (req) => imageStatus(deps, req),
    pullImage: (req, ctx) => pullImage(deps, req, ctx.signal),
    removeImage: (req) => removeImage(deps, req),
    imageFsInfo: () => imageFsInfo(deps),
  };
}
