/**
 * Samples resource usage of pods and containers for the stats and metrics
 * calls, with a constant number of Porto requests however many objects are
 * asked about: one `get` of every name × every usage property, and (for
 * writable layers) one `listVolumes` when a container's root volume is not
 * known yet. A root volume is made with its container and never changes, so
 * where it keeps its writes is remembered; only volumes under a quota, whose
 * figures come from portod, are listed on every call. Network counters come from each pod's
 * /proc/<root_pid>/net/dev (procfs, no Porto request), layer usage from
 * layer-usage.ts, CPU rates from cpu-rate.ts. Pure figures are worked out in
 * mapping/stats.ts.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { TVolumeDescription } from "../../gen/rpc_pb.js";
import { NamespaceMode } from "../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../mapping/porto-names.js";
import { METRIC_PROPERTIES, POD_PROPERTIES, USAGE_PROPERTIES, parseNetDev, parseUint, portoUsage } from "../mapping/stats.js";
import type { InterfaceCounters, LayerFigures, PortoUsage } from "../mapping/stats.js";
import type { PortoClient } from "../porto/client.js";
import { CpuRateTracker } from "./cpu-rate.js";
import { LayerUsage } from "./layer-usage.js";
import { nowNs } from "./records.js";
import type { ContainerEntry, PodEntry } from "./runtime-state.js";

/** Porto states in which a container has live cgroups worth reporting (not stopped, not dead). */
const LIVE_STATES = new Set(["starting", "running", "stopping", "paused", "meta", "respawning"]);

export interface UsageSample {
  /** When portod answered, Unix nanoseconds. */
  atNs: bigint;
  /** Porto's figures; `state` "" when portod does not have the container. */
  usage: PortoUsage;
  /** True while the container's processes exist (figures are current). */
  live: boolean;
  /** CPU rate in nano-cores over the last window, when there is an earlier sample. */
  nanoCores?: bigint;
}

export interface ContainerSample extends UsageSample {
  layer?: LayerFigures;
}

export interface PodSample extends UsageSample {
  /** The pod's interfaces (lo excluded); absent for host-network pods and when unreadable. */
  network?: { atNs: bigint; interfaces: InterfaceCounters[] };
}

export interface Samples {
  pods: Map<string, PodSample>;
  containers: Map<string, ContainerSample>;
}

export interface StatsCollectorOptions {
  porto: PortoClient;
  logger: Logger;
  /** /proc/<pid>/net/dev of a pod's root process (tests replace it). */
  readNetDev?: (pid: number) => Promise<string>;
  layers?: LayerUsage;
  rates?: CpuRateTracker;
}

export class StatsCollector {
  private readonly porto: PortoClient;
  private readonly log: Logger;
  private readonly readNetDev: (pid: number) => Promise<string>;
  readonly layers: LayerUsage;
  readonly rates: CpuRateTracker;
  private readonly roots = new RootVolumeCache();

  constructor(options: StatsCollectorOptions) {
    this.porto = options.porto;
    this.log = options.logger;
    this.readNetDev = options.readNetDev ?? ((pid) => readFile(`/proc/${pid}/net/dev`, "utf8"));
    this.layers = options.layers ?? new LayerUsage();
    this.rates = options.rates ?? new CpuRateTracker();
  }

  /**
   * Usage of the given pods and containers: one Porto `get`, plus one
   * `listVolumes` when a container's root volume is not known yet or has a
   * quota. `metrics` asks for the figures only the metrics calls report, too.
   */
  async collect(pods: readonly PodEntry[], containers: readonly ContainerEntry[], options: { metrics?: boolean } = {}): Promise<Samples> {
    const out: Samples = { pods: new Map(), containers: new Map() };
    const podNames = pods.map((p) => podPortoName(p.record.id));
    const ctrNames = containers.map((c) => containerPortoName(c.record.podId, c.record.id));
    if (podNames.length + ctrNames.length === 0) return out;

    const unknownRoots = ctrNames.some((n) => this.roots.needsListing(n));
    const [values, volumes] = await Promise.all([
      this.porto.get([...podNames, ...ctrNames], [
        ...USAGE_PROPERTIES,
        ...(options.metrics ? METRIC_PROPERTIES : []),
        ...(pods.length > 0 ? POD_PROPERTIES : []),
      ]),
      unknownRoots ? this.porto.listVolumes() : undefined,
    ]);
    if (volumes) this.roots.update(ctrNames, rootVolumes(volumes));
    const atNs = nowNs();
    const sample = (key: string, name: string): UsageSample => {
      const ok = new Map<string, string>();
      for (const [prop, v] of values.get(name) ?? []) if ("value" in v) ok.set(prop, v.value);
      const usage = portoUsage(ok);
      const live = LIVE_STATES.has(usage.state);
      const s: UsageSample = { atNs, usage, live };
      if (live && usage.cpuUsageNs !== undefined) {
        const rate = this.rates.observe(key, { usageNs: usage.cpuUsageNs, atNs });
        if (rate !== undefined) s.nanoCores = rate;
      }
      return s;
    };

    await Promise.all([
      ...pods.map(async (p, i) => {
        const s: PodSample = sample(`pod:${p.record.id}`, podNames[i]);
        if (s.live && !hostNetwork(p)) s.network = await this.network(p.record.id, s.usage.rootPid);
        out.pods.set(p.record.id, s);
      }),
      ...containers.map(async (c, i) => {
        const s: ContainerSample = sample(c.record.id, ctrNames[i]);
        const vol = this.roots.get(ctrNames[i]);
        if (vol) s.layer = await this.layer(c.record.id, vol);
        out.containers.set(c.record.id, s);
      }),
    ]);
    return out;
  }

  /** The pod's interfaces from its root process' view of the network namespace. */
  private async network(podId: string, pid: number | undefined): Promise<PodSample["network"]> {
    if (pid === undefined) return undefined;
    try {
      const text = await this.readNetDev(pid);
      return { atNs: nowNs(), interfaces: parseNetDev(text) };
    } catch (err) {
      // The process may have just exited; the next call will see the pod's new state.
      this.log.debug({ pod: podId, pid, err: (err as Error).message }, "cannot read the pod's network counters");
      return undefined;
    }
  }

  private async layer(containerId: string, vol: RootVolume): Promise<LayerFigures | undefined> {
    const mountpoint = join(vol.place, "porto_volumes");
    if (vol.spaceLimit > 0n) {
      // A project quota counts exactly this volume: portod's figures are the layer's.
      return { bytes: vol.spaceUsed, inodes: vol.inodeUsed, atNs: nowNs(), mountpoint };
    }
    if (vol.upperDir === undefined) return undefined;
    try {
      const u = await this.layers.get(vol.upperDir);
      return { bytes: u.bytes, inodes: u.inodes, atNs: u.timestampNs, mountpoint };
    } catch (err) {
      this.log.debug({ container: containerId, dir: vol.upperDir, err: (err as Error).message }, "cannot measure the writable layer");
      return undefined;
    }
  }
}

/**
 * Root volumes by container name, as last listed. A container whose volume
 * was not found is looked for again after a minute (its creation may have
 * been in flight); a volume under a quota is listed every time for portod's
 * current figures. Entries not asked for in ten minutes are dropped.
 */
class RootVolumeCache {
  private readonly byName = new Map<string, { volume?: RootVolume; listedAt: number; askedAt: number }>();
  private lastSweep = 0;

  needsListing(name: string): boolean {
    const e = this.byName.get(name);
    if (!e) return true;
    e.askedAt = Date.now();
    if (e.volume) return e.volume.spaceLimit > 0n;
    return Date.now() - e.listedAt > 60_000;
  }

  get(name: string): RootVolume | undefined {
    return this.byName.get(name)?.volume;
  }

  /** Records what a listing says about `names` (and nothing about the others). */
  update(names: readonly string[], listed: Map<string, RootVolume>): void {
    const now = Date.now();
    for (const n of names) this.byName.set(n, { volume: listed.get(n), listedAt: now, askedAt: now });
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [n, e] of this.byName) if (now - e.askedAt > 600_000) this.byName.delete(n);
  }
}

function hostNetwork(p: PodEntry): boolean {
  return p.config.linux?.securityContext?.namespaceOptions?.network === NamespaceMode.NODE;
}

interface RootVolume {
  place: string;
  spaceLimit: bigint;
  spaceUsed: bigint;
  inodeUsed: bigint;
  /** Where the container's writes land; undefined when portod keeps them elsewhere (own storage, other backends). */
  upperDir?: string;
}

/**
 * Each container's root volume, by container name: the volume linked at `/`
 * (or as the container root). portod lists a volume once per path it is
 * visible at, so the same id can appear twice.
 */
export function rootVolumes(volumes: readonly TVolumeDescription[]): Map<string, RootVolume> {
  const out = new Map<string, RootVolume>();
  for (const v of volumes) {
    const props = new Map(v.properties.map((p) => [p.name, p.value]));
    for (const link of v.links) {
      const isRoot = link.target === "/" || link.containerRoot || (link.target === "" && props.get("image"));
      if (!isRoot || out.has(link.container)) continue;
      const place = props.get("place") || "/place";
      const id = props.get("id");
      const internal = props.get("backend") === "overlay" && !props.get("storage") && id;
      out.set(link.container, {
        place,
        spaceLimit: parseUint(props.get("space_limit")) ?? 0n,
        spaceUsed: parseUint(props.get("space_used")) ?? 0n,
        inodeUsed: parseUint(props.get("inode_used")) ?? 0n,
        upperDir: internal ? join(place, "porto_volumes", id, "overlay", "upper") : undefined,
      });
    }
  }
  return out;
}

const collectors = new WeakMap<object, StatsCollector>();

/**
 * The collector of a shim (one per RuntimeState, so CPU rate windows and
 * layer walks are shared by every stats and metrics call), made on first use.
 */
export function statsCollector(deps: { state: object; porto: PortoClient; logger: Logger }): StatsCollector {
  let c = collectors.get(deps.state);
  if (!c) collectors.set(deps.state, (c = new StatsCollector({ porto: deps.porto, logger: deps.logger })));
  return c;
}

/** Makes `collector` the one {@link statsCollector} returns for `state` (tests, custom readers). */
export function useStatsCollector(state: object, collector: StatsCollector): void {
  collectors.set(state, collector);
}
