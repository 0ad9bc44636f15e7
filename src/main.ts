/**
 * portoshim's entry point: flags, configuration, wiring, signals. The only
 * module that knows every other one.
 *
 *   portoshim [--config PATH] [--debug] [--version] [--help]
 *
 * Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 2 for a bad command
 * line or configuration, 1 when start-up fails otherwise (socket in use, ...).
 */
import { parseArgs } from "node:util";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, redactConfig } from "./config.js";
import type { Config } from "./config.js";
import { createLogger } from "./log.js";
import { PortoClient, toConnectError, isPortoError } from "./porto/index.js";
import { createCriServer } from "./cri/server.js";
import { criRoutes } from "./cri/routes.js";
import { createStreamingServer } from "./streaming/server.js";
import { PortoExecBackend } from "./streaming/porto-exec.js";
import { stateLocator } from "./streaming/locator.js";
import { ContainerStdio } from "./streaming/container-stdio.js";
import { TtyHolders, systemdScopeLauncher } from "./streaming/tty-holder.js";
import { callLogInterceptor } from "./cri/call-log.js";
import { PodNetwork } from "./network/pod-network.js";
import { portoNetnsName } from "./network/netns.js";
import { ImageStore } from "./images/image-store.js";
import { openImageRecords } from "./images/image-records.js";
import { CachedDiskUsage } from "./images/disk-usage.js";
import { runtimeImages } from "./images/runtime-images.js";
import type { ImageDeps } from "./cri/image/deps.js";
import { RuntimeState } from "./runtime/runtime-state.js";
import type { RuntimeDeps } from "./runtime/deps.js";
import { cniPodNetwork, reconcilePodNetworks } from "./runtime/network.js";
import { hostFacts, minOomScoreAdj } from "./runtime/host.js";
import type { HostFacts } from "./mapping/host-facts.js";
import type { Logger } from "pino";
import { containerEvents } from "./runtime/events.js";
import { portoView } from "./runtime/porto-view.js";
import { ContainerLogManager } from "./logs/index.js";
import { containerLogSpec } from "./runtime/container-log-spec.js";

/** How long a Status call waits for portod before calling the runtime not ready. */
const PING_TIMEOUT_MS = 5_000;
/** How often start-up reconciliation is retried while portod does not answer. */
const RECONCILE_RETRY_MS = 5_000;
/** How long a measured disk usage of the image store is reused by ImageFsInfo. */
const DISK_USAGE_TTL_MS = 10_000;
/** How long calls in flight may run on after SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;

const USAGE = `Usage: portoshim [--config PATH] [--debug] [--version] [--help]

Serves the Kubernetes CRI v1 API for the Porto container manager.

  --config PATH  configuration file (default ${DEFAULT_CONFIG_PATH}; a missing
                 default file means all defaults)
  --debug        log at debug level, one line per CRI call
  --version      print the version and exit
  --help         print this text and exit
`;

/** The version in package.json, found from src/ (tsx) or dist/src/ (built). */
function packageVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version: string };
      if (pkg.name === "portoshim") return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return "unknown";
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        debug: { type: "boolean", default: false },
        version: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`portoshim: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

/** The node's facts for the mapping; without a usable VolumesDir containers still run, with less (logged). */
function nodeFacts(volumesDir: string, logger: Logger): HostFacts | undefined {
  try {
    return hostFacts(volumesDir);
  } catch (err) {
    logger.warn({ volumesDir, err: (err as Error).message }, "cannot prepare the volumes directory; read-only roots and masked paths will be limited");
    return undefined;
  }
}

/**
 * Whether the shim runs as a systemd unit (INVOCATION_ID is set for every
 * unit's processes) on a host booted with systemd (sd_booted's test).
 */
function underSystemd(): boolean {
  return Boolean(process.env.INVOCATION_ID) && existsSync("/run/systemd/system");
}

export async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv);
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (flags.version) {
    process.stdout.write(`portoshim ${packageVersion()}\n`);
    return;
  }
  process.title = "portoshim"; // so that logrotate's `pkill -x portoshim` finds us

  let config: Config;
  try {
    config = loadConfig({ path: flags.config, explicit: flags.config !== undefined });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`portoshim: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const log = createLogger({ logsDir: config.portoshim.logsDir, debug: flags.debug });
  const logger = log.logger;
  /** Start-up cannot go on: why, in the log and on stderr, then exit status 1. */
  const fatal = async (what: string, err: unknown): Promise<never> => {
    logger.error({ err: (err as Error).message }, what);
    process.stderr.write(`portoshim: ${what}: ${(err as Error).message}\n`);
    await log.close();
    process.exit(1);
  };
  // A request must never take the process down; what escapes is a bug to log.
  process.on("uncaughtException", (err) => logger.error({ err: err.stack }, "uncaught exception"));
  process.on("unhandledRejection", (err) =>
    logger.error({ err: err instanceof Error ? err.stack : String(err) }, "unhandled rejection"),
  );

  const porto = new PortoClient({
    socketPath: config.porto.socket,
    timeoutMs: config.porto.socketTimeoutMs,
    logger,
  });

  // Pods and containers: records first (a state dir we cannot read is fatal),
  // then what a crash left half-made, once portod answers.
  const state = new RuntimeState({ stateDir: config.portoshim.stateDir, porto, logger });
  try {
    await state.load();
  } catch (err) {
    return fatal("cannot read the state directory", err);
  }
  // Images: portod's store, plus records of what it cannot keep (requested
  // names, manifest digests). Unreadable records are fatal like the others.
  let image: ImageDeps;
  try {
    const records = await openImageRecords(config.portoshim.stateDir, (file, err) =>
      logger.warn({ file, err: err.message }, "unreadable image record set aside"),
    );
    image = {
      images: new ImageStore({
        porto,
        imagesDir: config.porto.imagesDir,
        records,
        registries: config.images.registries,
        pauseImage: config.images.pauseImage,
        pullTimeoutMs: config.images.pullTimeoutMs,
        logger,
      }),
      imageStoreUsage: new CachedDiskUsage(config.porto.imagesDir, DISK_USAGE_TTL_MS),
      volumesUsage: new CachedDiskUsage(config.portoshim.volumesDir, DISK_USAGE_TTL_MS),
    };
  } catch (err) {
    return fatal("cannot read the image records", err);
  }

  // Pod networks (netns + CNI), with records of their own in StateDir/cni; unreadable ones are fatal too.
  let podNetwork: PodNetwork;
  try {
    podNetwork = await PodNetwork.open({
      confDir: config.cni.confDir,
      binDir: config.cni.binDir,
      netnsDir: config.cni.netnsDir,
      pluginTimeoutMs: config.cni.pluginTimeoutMs,
      stateDir: config.portoshim.stateDir,
      logger,
    });
  } catch (err) {
    return fatal("cannot read the pod network records", err);
  }
  // UpdateRuntimeConfig's CIDR is kept by the state; kubelet sends it again only when it changes.
  if (state.podCidr !== "") podNetwork.setPodCidrs(state.podCidr.split(","));
  if (portoNetnsName(config.cni.netnsDir, "x") === undefined) {
    logger.error({ netnsDir: config.cni.netnsDir }, "CNI.NetnsDir is not below /var/run/netns: portod cannot join its namespaces, pods without hostNetwork will fail");
  }
  const network = cniPodNetwork(podNetwork, { netnsDir: config.cni.netnsDir });

  // Holders and stdin keepers leave the unit's cgroup, which KillMode=mixed empties when the shim stops.
  const systemd = underSystemd();
  // Terminals of tty containers, kept by holders that outlive the shim (streaming/tty-holder.ts).
  // Their files live in StateDir, not in /run like the stdin FIFOs: each holder keeps a copy of up
  // to STDOUT_LIMIT_BYTES of terminal output for the log pump, which on tmpfs would be memory, and
  // StateDir is where the shim's other crash-surviving state is; start-up removes what a container
  // that is gone (a reboot included) left there.
  const ttys = new TtyHolders({
    dir: join(config.portoshim.stateDir, "tty"),
    launcher: systemd ? systemdScopeLauncher() : undefined,
    logger,
  });
  // Containers' CRI logs, pumped from portod's stdout/stderr files or a terminal's copy (src/logs).
  const logs = new ContainerLogManager({
    stateDir: config.portoshim.stateDir,
    porto,
    logger,
    terminalFacts: (outputPath) => ttys.outputFacts(outputPath),
  });
  const runtime: RuntimeDeps = {
    porto,
    state,
    logs,
    // CreateContainer needs the whole image config (WORKDIR, USER, StopSignal), which only src/images reads.
    images: runtimeImages(image.images, config.images.pauseImage),
    logger,
    volumesDir: config.portoshim.volumesDir,
    imagesDir: config.porto.imagesDir,
    host: nodeFacts(config.portoshim.volumesDir, logger),
    minOomScoreAdj: minOomScoreAdj(),
    runtimeHandlers: [config.porto.runtimeName],
    network,
  };

  // Exec, attach and port-forward: the CRI calls hand out URLs of this server.
  const locator = stateLocator(state);
  // Attach follows main processes' output files or terminals; both need StartContainer's help (container-stdio.ts).
  const containerStdio = new ContainerStdio({ porto, ttys, launcher: systemd ? systemdScopeLauncher("stdin") : undefined, logger });
  runtime.stdio = containerStdio;
  const execBackend = new PortoExecBackend({ porto, locator, attach: containerStdio, logger });
  const streamingServer = createStreamingServer({
    address: config.streamingServer.address,
    port: config.streamingServer.port,
    backend: execBackend,
    logger,
  });

  const server = createCriServer({
    socketPath: config.portoshim.socket,
    logger,
    interceptors: [callLogInterceptor(logger, (err) => (isPortoError(err) ? toConnectError(err) : undefined))],
    routes: criRoutes({
      runtimeName: config.porto.runtimeName,
      portoVersion: () => porto.version(),
      pingPorto: async () => {
        await porto.version({ timeoutMs: PING_TIMEOUT_MS });
      },
      loadCniConfig: () => podNetwork.ready(),
      redactedConfig: () => redactConfig(config),
      image,
      runtime,
      streaming: { streaming: streamingServer, execBackend, locator, porto },
    }),
  });

  try {
    await streamingServer.listen();
  } catch (err) {
    const where = `${config.streamingServer.address}:${config.streamingServer.port}`;
    logger.error({ err: (err as Error).message, address: where }, "cannot listen for streaming");
    process.stderr.write(`portoshim: cannot listen for streaming on ${where}: ${(err as Error).message}\n`);
    await log.close();
    process.exit(1);
  }

  try {
    await server.listen();
  } catch (err) {
    logger.error({ err: (err as Error).message }, "cannot listen on the CRI socket");
    process.stderr.write(`portoshim: ${(err as Error).message}\n`);
    await log.close();
    process.exit(1);
  }
  logger.info({ socket: config.portoshim.socket, porto: config.porto.socket, version: packageVersion() }, "portoshim started");
  // Say early whether portod is there; the server serves either way and
  // Status reports RuntimeReady false until it answers.
  porto.version({ timeoutMs: PING_TIMEOUT_MS }).then(
    (v) => logger.info({ portod: v.tag }, "portod answers"),
    (err: unknown) => logger.warn({ err: (err as Error).message }, "portod does not answer yet"),
  );

  // Status and list calls are served from memory, kept current by portod's events (runtime/porto-view.ts).
  portoView(runtime).start();

  let reconcileTimer: NodeJS.Timeout | undefined;
  const reconcile = () => {
    state.reconcile().then(
      (r) => {
        logger.info({ destroyed: r.destroyed.length, dropped: r.dropped.length }, "runtime state reconciled with portod");
        // Logs resume where the last run committed them, for every container that is left.
        const live = [...state.containers.values()].map(containerLogSpec);
        logs.recover(live).catch((err: unknown) => logger.warn({ err: (err as Error).message }, "cannot resume container logs"));
        // Terminals of containers that are gone (removed while the shim was down, dropped just now) go too.
        const released = ttys.reconcile((id) => state.containers.get(id) !== undefined);
        if (released.length > 0) logger.info({ containers: released }, "released the terminals of containers that are gone");
        const keepers = containerStdio.reconcile((id) => state.containers.get(id) !== undefined);
        if (keepers.length > 0) logger.info({ containers: keepers }, "released the stdin FIFOs of containers that are gone");
        // Networks of pods that are gone (a crash mid-way, a removal cut short) are torn down.
        reconcilePodNetworks(state, network, logger).catch((err: unknown) =>
          logger.error({ err: (err as Error).message }, "cannot reconcile pod networks"),
        );
      },
      (err: unknown) => {
        logger.warn({ err: (err as Error).message }, "cannot reconcile with portod yet; retrying");
        reconcileTimer = setTimeout(reconcile, RECONCILE_RETRY_MS);
        reconcileTimer.unref();
      },
    );
  };
  reconcile();

  process.on("SIGHUP", () => {
    if (log.reopen()) logger.info("log file reopened");
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    clearTimeout(reconcileTimer);
    // Event streams never end by themselves: end them, or they would hold the whole grace period.
    await containerEvents(runtime).close();
    await portoView(runtime).close();
    await server.close(SHUTDOWN_GRACE_MS);
    // Sessions end with the shim; their exec containers are weak, so portod removes them.
    await streamingServer.close();
    execBackend.close();
    await logs.close();
    porto.close();
    logger.info("stopped");
    await log.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
