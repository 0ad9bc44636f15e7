/**
 * The ImageService through the real CRI server on a unix socket, over the
 * Porto double, with a loopback registry for the shim's own registry
 * requests (every host is routed to it) and the real log file, so tests can
 * read what was logged.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ImageService } from "../../../gen/runtime/v1/api_pb.js";
import type { RegistryConfig } from "../../../src/config.js";
import { callLogInterceptor } from "../../../src/cri/call-log.js";
import type { ImageDeps } from "../../../src/cri/image/deps.js";
import { imageService } from "../../../src/cri/routes.js";
import { createCriServer } from "../../../src/cri/server.js";
import type { CriServer } from "../../../src/cri/server.js";
import { CachedDiskUsage } from "../../../src/images/disk-usage.js";
import { openImageRecords } from "../../../src/images/image-records.js";
import type { ImageRecords } from "../../../src/images/image-records.js";
import { ImageStore } from "../../../src/images/image-store.js";
import type { ImagePorto } from "../../../src/images/image-store.js";
import { createLogger } from "../../../src/log.js";
import type { PortoshimLog } from "../../../src/log.js";
import { PortoClient, isPortoError, toConnectError } from "../../../src/porto/index.js";
import { startPortoDouble } from "../../porto-double/index.js";
import type { ImageSeed, PortoDouble } from "../../porto-double/index.js";
import { LoopbackRegistry } from "../../images/loopback-registry.js";
import type { PushedImage, RegistryAuth } from "../../images/loopback-registry.js";

export interface HarnessOptions {
  registryAuth?: RegistryAuth;
  registries?: RegistryConfig[];
  pauseImage?: string;
  pullTimeoutMs?: number;
  /** Porto.SocketTimeout of the client. */
  socketTimeoutMs?: number;
  /** Wraps the Porto client (to count or see calls). */
  wrapPorto?: (porto: ImagePorto) => ImagePorto;
  progressIntervalMs?: number;
}

export interface Harness {
  dir: string;
  double: PortoDouble;
  registry: LoopbackRegistry;
  porto: PortoClient;
  records: ImageRecords;
  store: ImageStore;
  deps: ImageDeps;
  image: Client<typeof ImageService>;
  /** Porto.ImagesDir: the double's place/porto_docker. */
  imagesDir: string;
  /** Serves an image from the registry and makes the double able to pull it. */
  publish(path: string, tag: string, config: Record<string, unknown>, seed?: Partial<ImageSeed>): PushedImage;
  /** Everything logged so far (the log file's lines). */
  logText(): Promise<string>;
  close(): Promise<void>;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "portoshim-images-"));
  const double = await startPortoDouble({ workDir: join(dir, "place") });
  const registry = await new LoopbackRegistry(o.registryAuth).start();
  const log: PortoshimLog = createLogger({ logsDir: join(dir, "logs"), debug: true });
  const porto = new PortoClient({ socketPath: double.socketPath, timeoutMs: o.socketTimeoutMs ?? 10_000, logger: log.logger });
  const records = await openImageRecords(join(dir, "state"), () => undefined);
  const imagesDir = join(dir, "place", "porto_docker");
  const store = new ImageStore({
    porto: o.wrapPorto ? o.wrapPorto(porto) : porto,
    imagesDir,
    records,
    registries: o.registries ?? [],
    pauseImage: o.pauseImage ?? "registry.k8s.io/pause:3.7",
    pullTimeoutMs: o.pullTimeoutMs ?? 60_000,
    logger: log.logger,
    http: registry.fetch,
    progressIntervalMs: o.progressIntervalMs,
  });
  const deps: ImageDeps = {
    images: store,
    imageStoreUsage: new CachedDiskUsage(imagesDir, 0),
    volumesUsage: new CachedDiskUsage(join(dir, "volumes"), 0),
  };
  const socketPath = join(dir, "cri.sock");
  const server: CriServer = createCriServer({
    socketPath,
    logger: log.logger,
    interceptors: [callLogInterceptor(log.logger, (err) => (isPortoError(err) ? toConnectError(err) : undefined))],
    routes: (router) => router.service(ImageService, imageService(deps)),
  });
  await server.listen();
  const transport = createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => connect(socketPath) } });
  return {
    dir,
    double,
    registry,
    porto,
    records,
    store,
    deps,
    image: createClient(ImageService, transport),
    imagesDir,
    publish(path, tag, config, seed = {}) {
      const pushed = registry.addImage(path, tag, config);
      const host = seed.name ?? `${registry.host}/${path}:${tag}`;
      double.state.images.addToCatalogue({ name: host, config, manifest: pushed.manifestJson, ...seed });
      return pushed;
    },
    async logText() {
      await new Promise((r) => setTimeout(r, 50));
      return readFile(log.file, "utf8").catch(() => "");
    },
    async close() {
      await server.close(1000);
      porto.close();
      await registry.close();
      await double.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Config blobs for test images: the USER of each critest user image, and a plain one. */
export const CONFIGS = {
  plain: { architecture: "amd64", os: "linux", config: { Cmd: ["sh"], Env: ["PATH=/bin"] } },
  uid: { architecture: "amd64", os: "linux", config: { Cmd: ["sh"], User: "1002" } },
  uidGroup: { architecture: "amd64", os: "linux", config: { Cmd: ["sh"], User: "1003:1004" } },
  username: { architecture: "amd64", os: "linux", config: { Cmd: ["sh"], User: "www-data" } },
  usernameGroup: { architecture: "amd64", os: "linux", config: { Cmd: ["sh"], User: "www-data:1004" } },
  nginx: {
    architecture: "amd64",
    os: "linux",
    config: {
      Entrypoint: ["/docker-entrypoint.sh"],
      Cmd: ["nginx", "-g", "daemon off;"],
      Env: ["PATH=/bin", "NGINX_VERSION=1.14"],
      WorkingDir: "/usr/share/nginx",
      User: "101",
      StopSignal: "SIGQUIT",
      ExposedPorts: { "80/tcp": {} },
      Labels: { maintainer: "test" },
    },
  },
};
