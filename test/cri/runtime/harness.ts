/**
 * The lifecycle RPCs end to end: the real CRI server on a unix socket, a
 * connect gRPC client, the real RuntimeState on a temporary state dir, and
 * the Porto double. `restart()` replaces the shim (server, Porto client,
 * runtime state loaded from the same state dir, reconciliation) while Porto
 * keeps running, as after a shim crash or upgrade.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import pino from "pino";
import {
  ContainerConfigSchema,
  ContainerMetadataSchema,
  ImageSpecSchema,
  PodSandboxConfigSchema,
  PodSandboxMetadataSchema,
  RuntimeService,
} from "../../../gen/runtime/v1/api_pb.js";
import type { ContainerConfig, PodSandboxConfig } from "../../../gen/runtime/v1/api_pb.js";
import { createCriServer } from "../../../src/cri/server.js";
import type { CriServer } from "../../../src/cri/server.js";
import { criRoutes } from "../../../src/cri/routes.js";
import type { CriDeps } from "../../../src/cri/routes.js";
import { callLogInterceptor } from "../../../src/cri/call-log.js";
import { PortoClient, isPortoError, toConnectError } from "../../../src/porto/index.js";
import { RuntimeState } from "../../../src/runtime/runtime-state.js";
import { portoImageResolver } from "../../../src/runtime/images.js";
import { hostFacts } from "../../../src/runtime/host.js";
import { portoView } from "../../../src/runtime/porto-view.js";
import type { PortoView } from "../../../src/runtime/porto-view.js";
import type { RuntimeDeps } from "../../../src/runtime/deps.js";
import { reconcilePodNetworks } from "../../../src/runtime/network.js";
import type { PodNetwork } from "../../../src/runtime/network.js";
import { startPortoDouble } from "../../porto-double/index.js";
import type { PortoDouble } from "../../porto-double/index.js";

export const BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2";
/** An image the double offers but the tests never pull. */
export const NOT_PULLED = "registry.k8s.io/not-pulled:1";

const silent = pino({ level: "silent" });

export interface Shim {
  readonly dir: string;
  readonly stateDir: string;
  readonly volumesDir: string;
  readonly double: PortoDouble;
  /** The shim's own Porto client (replaced by restart). */
  porto: PortoClient;
  state: RuntimeState;
  deps: RuntimeDeps;
  /** The shim's Porto view, started and current (replaced by restart). */
  view: PortoView;
  rt: Client<typeof RuntimeService>;
  /** Stops this shim and starts a new one on the same state dir; Porto keeps running. */
  restart(options?: { reconcile?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface ShimOptions {
  /** Wraps the Porto client the handlers use (to inject failures). */
  wrapPorto?: (porto: PortoClient) => PortoClient;
  /** The Porto view's resync period (default the shim's). */
  viewResyncMs?: number;
  /** The pod network the handlers use, kept across restarts (reconciled with the pods at each). */
  network?: PodNetwork;
  /** Where the shim's Porto client connects instead of the double's socket (a proxy in front of it). */
  portoSocketPath?: (doubleSocketPath: string) => string;
}

export async function startShim(options: ShimOptions = {}): Promise<Shim> {
  const dir = await mkdtemp(join(tmpdir(), "portoshim-life-"));
  const stateDir = join(dir, "state");
  const volumesDir = join(dir, "volumes");
  const socketPath = join(dir, "cri.sock");
  const double = await startPortoDouble({
    workDir: join(dir, "place"),
    images: [
      { name: BUSYBOX, cmd: ["sh"], env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=1"] },
      { name: NOT_PULLED, cmd: ["sh"] },
    ],
  });
  const setup = new PortoClient({ socketPath: double.socketPath, timeoutMs: 10_000 });
  await setup.pullDockerImage({ name: BUSYBOX });
  setup.close();

  let server: CriServer;
  const shim = { dir, stateDir, volumesDir, double } as Shim;

  const up = async (reconcile: boolean) => {
    const portoSocket = options.portoSocketPath?.(double.socketPath) ?? double.socketPath;
    const base = new PortoClient({ socketPath: portoSocket, timeoutMs: 10_000 });
    const porto = options.wrapPorto ? options.wrapPorto(base) : base;
    const state = new RuntimeState({ stateDir, porto, logger: silent });
    await state.load();
    if (reconcile) await state.reconcile();
    if (reconcile && options.network) await reconcilePodNetworks(state, options.network, silent);
    const deps: RuntimeDeps = {
      porto,
      state,
      images: portoImageResolver(porto),
      logger: silent,
      volumesDir,
      host: hostFacts(volumesDir),
      minOomScoreAdj: 0,
      runtimeHandlers: ["porto"],
      network: options.network,
    };
    const criDeps = {
      runtimeName: "porto",
      portoVersion: () => porto.version(),
      pingPorto: async () => void (await porto.version()),
      loadCniConfig: async () => ({ ok: false, reason: "NetworkPluginNotReady", message: "none" }),
      redactedConfig: () => ({}),
      runtime: deps,
    } as unknown as CriDeps;
    server = createCriServer({
      socketPath,
      routes: criRoutes(criDeps),
      interceptors: [callLogInterceptor(silent, (err) => (isPortoError(err) ? toConnectError(err) : undefined))],
      logger: silent,
    });
    await server.listen();
    const view = portoView(deps, { resyncMs: options.viewResyncMs });
    view.start();
    if (!(await view.whenFresh())) throw new Error("the Porto view did not get current");
    shim.view = view;
    shim.porto = porto;
    shim.state = state;
    shim.deps = deps;
    shim.rt = createClient(
      RuntimeService,
      createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => connect(socketPath) } }),
    );
  };
  const down = async () => {
    await server.close(1000);
    await shim.view.close();
    shim.porto.close();
  };

  await up(true);
  shim.restart = async (o = {}) => {
    await down();
    await up(o.reconcile ?? true);
  };
  shim.close = async () => {
    await down();
    await double.close();
    await rm(dir, { recursive: true, force: true });
  };
  return shim;
}

let serial = 0;

/** A pod config with unique metadata. */
export function podConfig(init: MessageInitShape<typeof PodSandboxConfigSchema> = {}): PodSandboxConfig {
  serial++;
  const config = create(PodSandboxConfigSchema, init);
  config.metadata ??= create(PodSandboxMetadataSchema, { name: `pod-${serial}`, namespace: "default", uid: `uid-${serial}`, attempt: 0 });
  config.hostname ||= `pod-${serial}`;
  return config;
}

/** A container config running `argv` (on the host, in the double) from BUSYBOX. */
export function ctrConfig(argv: string[], init: MessageInitShape<typeof ContainerConfigSchema> = {}): ContainerConfig {
  serial++;
  const config = create(ContainerConfigSchema, init);
  config.metadata ??= create(ContainerMetadataSchema, { name: `ctr-${serial}`, attempt: 0 });
  config.image ??= create(ImageSpecSchema, { image: BUSYBOX });
  if (config.command.length === 0) config.command = argv;
  return config;
}

/** Polls `fn` until it returns a value (not undefined), for at most `ms`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A pod network made after the shim (its directories go in the shim's own):
 * hand it to startShim, then `set` the real one. Until then reconcile finds
 * nothing, and every other call is a test bug.
 */
export function lateNetwork(): { network: PodNetwork; set(net: PodNetwork): void } {
  let real: PodNetwork | undefined;
  const net = (): PodNetwork => real ?? assert.fail("the test's pod network is not set yet");
  return {
    network: {
      portoNetns: (id) => net().portoNetns(id),
      setUp: (id, c, hooks) => net().setUp(id, c, hooks),
      tearDown: (id) => net().tearDown(id),
      remove: (id) => net().remove(id),
      setPodCidrs: (c) => net().setPodCidrs(c),
      reconcile: async (live) => (real ? real.reconcile(live) : { removed: [], strayNetns: [], incomplete: [], failed: [] }),
    },
    set: (n) => void (real = n),
  };
}

/**
 * Failure and delay injection into CreateFromSpec: pass `wrapPorto` to
 * startShim, then set `next`; the next CreateFromSpec awaits it (with the
 * Porto name being created) before going to portod, and it is used once.
 */
export class CreateHook {
  next: ((name: string) => Promise<void>) | undefined;

  readonly wrapPorto = (base: PortoClient): PortoClient => {
    const wrapped = Object.create(base) as PortoClient;
    wrapped.createFromSpec = async (spec, options) => {
      const hook = this.next;
      this.next = undefined;
      if (hook) await hook(String(spec.name));
      return base.createFromSpec(spec, options);
    };
    return wrapped;
  };
}

