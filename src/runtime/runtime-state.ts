/**
 * The shim's picture of its pods and containers: the records it keeps (see
 * records.ts) joined with what Porto says, in one ListContainersBy request
 * however many objects a call looks at.
 *
 * Rules that keep the two from disagreeing for long:
 * - A record is written while its Porto container is created (the id is
 *   handed out once both exist) and deleted after the container is
 *   destroyed. An object being created is invisible until its call finishes
 *   (`creating`), so a list never shows half of it.
 * - At start-up {@link RuntimeState.reconcile} finishes what a crash
 *   interrupted: records whose container never appeared are dropped with the
 *   files they name, shim containers without a record are destroyed.
 * - Only Porto containers named `k8s-<id>[/<id>]` that carry the CRI.managed
 *   label are ever listed, and so ever touched.
 */
import { rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { isFieldSet } from "@bufbuild/protobuf";
import { EError, TContainerStatusSchema } from "../../gen/rpc_pb.js";
import type { TContainer } from "../../gen/rpc_pb.js";
import type { ContainerConfig, PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import { resolveIdPrefix } from "../mapping/ids.js";
import type { PrefixMatch } from "../mapping/ids.js";
import {
  MANAGED_LABEL,
  MANAGED_VALUE,
  POD_PREFIX,
  containerPortoName,
  parsePortoName,
  podPortoName,
} from "../mapping/porto-names.js";
import { isPortoError } from "../porto/errors.js";
import type { PortoClient } from "../porto/client.js";
import { RecordStore } from "../store/record-store.js";
import type { PortoFacts } from "./container-state.js";
import { KeyedLock } from "./keyed-lock.js";
import { INSTANCE_LABEL, instanceTag } from "./owned-spec.js";
import { containerConfigOf, podConfigOf } from "./records.js";
import type { ContainerRecord, PodRecord } from "./records.js";

/** Porto properties one status needs; asked for all objects at once. */
const FACT_PROPERTIES = ["state", "exit_code", "oom_killed", "start_time", "death_time", "start_error"];

/** Matches every shim container, pods and their children (Porto's `***` crosses `/`). */
const ALL_SHIM_CONTAINERS = `${POD_PREFIX}***`;

const SETTINGS_ID = "runtime";

interface RuntimeSettings {
  podCidr: string;
}

export interface RuntimeStateOptions {
  /** Portoshim.StateDir; records live in its `pods` and `containers` subdirectories. */
  stateDir: string;
  porto: PortoClient;
  logger: Logger;
}

/** A pod as a call sees it. */
export interface PodEntry {
  record: PodRecord;
  config: PodSandboxConfig;
}

/** A container as a call sees it. */
export interface ContainerEntry {
  record: ContainerRecord;
  config: ContainerConfig;
}

export class RuntimeState {
  readonly pods: RecordStore<PodRecord>;
  readonly containers: RecordStore<ContainerRecord>;
  /** Runtime-wide settings from UpdateRuntimeConfig (one record, "runtime"). */
  private readonly settings: RecordStore<RuntimeSettings>;
  /** Serializes calls on one pod or container id (pods before containers). */
  readonly locks = new KeyedLock();
  /** Pod CIDR last given by UpdateRuntimeConfig. */
  podCidr = "";
  /** This shim's CRI.instance label value (see owned-spec.ts). */
  readonly instance: string;

  private readonly porto: PortoClient;
  private readonly log: Logger;
  private readonly podConfigs = new Map<string, PodSandboxConfig>();
  private readonly containerConfigs = new Map<string, ContainerConfig>();
  /** Ids whose creation is in flight: recorded, not yet visible. */
  private readonly creating = new Set<string>();
  /** Ids with a record at load(): the only records reconcile may drop (later ones are this run's own). */
  private readonly loadedIds = new Set<string>();
  /** Metadata keys reserved by creations in flight, so two concurrent calls can't both pass the AlreadyExists check. */
  private readonly reservedNames = new Set<string>();

  constructor(options: RuntimeStateOptions) {
    this.porto = options.porto;
    this.log = options.logger;
    this.instance = instanceTag(options.stateDir);
    const onCorrupt = (file: string, err: Error) =>
      this.log.error({ file, err: err.message }, "unreadable record set aside as *.corrupt");
    this.pods = new RecordStore<PodRecord>({ dir: join(options.stateDir, "pods"), onCorrupt });
    this.containers = new RecordStore<ContainerRecord>({ dir: join(options.stateDir, "containers"), onCorrupt });
    this.settings = new RecordStore<RuntimeSettings>({ dir: join(options.stateDir, "settings"), onCorrupt });
  }

  /** Reads the records from disk; call once before anything else. */
  async load(): Promise<void> {
    await this.pods.load();
    await this.containers.load();
    await this.settings.load();
    this.podCidr = this.settings.get(SETTINGS_ID)?.podCidr ?? "";
    for (const id of this.pods.ids()) this.loadedIds.add(id);
    for (const id of this.containers.ids()) this.loadedIds.add(id);
  }

  /** Keeps the pod CIDR kubelet gave, across restarts. */
  async setPodCidr(podCidr: string): Promise<void> {
    await this.settings.put(SETTINGS_ID, { podCidr });
    this.podCidr = podCidr;
  }

  // ---- lookups

  /** Which visible pod `idOrPrefix` names. */
  resolvePod(idOrPrefix: string): PrefixMatch {
    return resolveIdPrefix(idOrPrefix, this.visible(this.pods.ids()));
  }

  /** Which visible container `idOrPrefix` names. */
  resolveContainer(idOrPrefix: string): PrefixMatch {
    return resolveIdPrefix(idOrPrefix, this.visible(this.containers.ids()));
  }

  pod(id: string): PodEntry | undefined {
    const record = this.pods.get(id);
    if (!record) return undefined;
    let config = this.podConfigs.get(id);
    if (!config) this.podConfigs.set(id, (config = podConfigOf(record)));
    return { record, config };
  }

  container(id: string): ContainerEntry | undefined {
    const record = this.containers.get(id);
    if (!record) return undefined;
    let config = this.containerConfigs.get(id);
    if (!config) this.containerConfigs.set(id, (config = containerConfigOf(record)));
    return { record, config };
  }

  /** Every pod a caller may see. */
  listPods(): PodEntry[] {
    return [...this.visible(this.pods.ids())].map((id) => this.pod(id)!);
  }

  /** Every container a caller may see, optionally of one pod only. */
  listContainers(podId?: string): ContainerEntry[] {
    const out: ContainerEntry[] = [];
    for (const id of this.visible(this.containers.ids())) {
      const entry = this.container(id)!;
      if (podId === undefined || entry.record.podId === podId) out.push(entry);
    }
    return out;
  }

  /** Containers of a pod including ones being created: what removing the pod must take along. */
  allContainersOf(podId: string): ContainerRecord[] {
    return [...this.containers.values()].filter((r) => r.podId === podId);
  }

  // ---- creation and removal of records

  /**
   * Reserves a metadata key for a creation in flight; false when it is taken
   * (by a visible object or another creation). Release it when the call ends.
   */
  reserveName(key: string, taken: () => boolean): boolean {
    if (this.reservedNames.has(key) || taken()) return false;
    this.reservedNames.add(key);
    return true;
  }

  releaseName(key: string): void {
    this.reservedNames.delete(key);
  }

  /** Writes the record of an object being created; it stays invisible until {@link finishCreate}. */
  async beginCreatePod(record: PodRecord, config: PodSandboxConfig): Promise<void> {
    // Stays "creating" even if the write fails: the caller's undo (deletePod) ends that,
    // once the Porto request running alongside has finished too.
    this.creating.add(record.id);
    this.podConfigs.set(record.id, config);
    await this.pods.put(record.id, record);
  }

  async beginCreateContainer(record: ContainerRecord, config: ContainerConfig): Promise<void> {
    // Stays "creating" even if the write fails: the caller's undo (deleteContainer) ends that,
    // once the Porto request running alongside has finished too.
    this.creating.add(record.id);
    this.containerConfigs.set(record.id, config);
    await this.containers.put(record.id, record);
  }

  /** The object's Porto container exists: callers may see it now. */
  finishCreate(id: string): void {
    this.creating.delete(id);
  }

  async updatePod(record: PodRecord): Promise<void> {
    await this.pods.put(record.id, record);
  }

  async updateContainer(record: ContainerRecord): Promise<void> {
    await this.containers.put(record.id, record);
  }

  /** Forgets a pod whose Porto container is gone (its network namespace is the network's to remove). */
  async deletePod(record: PodRecord): Promise<void> {
    await this.pods.delete(record.id);
    this.podConfigs.delete(record.id);
    this.creating.delete(record.id);
  }

  /** Forgets a container whose Porto container is gone, and removes its (now unmounted) root directory. */
  async deleteContainer(record: ContainerRecord): Promise<void> {
    if (record.rootPath) await removeEmptyDir(record.rootPath, this.log);
    await this.containers.delete(record.id);
    this.containerConfigs.delete(record.id);
    this.creating.delete(record.id);
  }

  // ---- Porto

  /**
   * Porto's facts about the given shim containers (all of them when `names`
   * is absent), in one ListContainersBy request. A name Porto does not have
   * is simply missing from the map.
   */
  async portoFacts(names?: string[]): Promise<Map<string, PortoFacts>> {
    const labels = {
      map: [
        { key: MANAGED_LABEL, val: MANAGED_VALUE },
        { key: INSTANCE_LABEL, val: this.instance },
      ],
    };
    const filters = (names ?? [ALL_SHIM_CONTAINERS]).map((name) => ({ name, labels }));
    const out = new Map<string, PortoFacts>();
    if (filters.length === 0) return out;
    const containers = await this.porto.listContainersBy(filters, { properties: FACT_PROPERTIES });
    for (const ct of containers) {
      if (ct.error !== undefined) continue; // a filter that matched nothing
      const name = ct.spec?.name;
      if (name === undefined || parsePortoName(name).kind === "foreign") continue;
      out.set(name, factsOf(ct));
    }
    return out;
  }

  // ---- start-up

  /**
   * Finishes what a crash left half-made. Pods and containers of this
   * instance that Porto has without a record are destroyed (the shim writes
   * the record first, so such a container was never handed out); those of
   * another state directory are not looked at. Records without a Porto container are
   * dropped with their files. Safe to run again if it fails half-way, and
   * while calls are served: it only drops records that were on disk at
   * load(), and leaves alone containers whose creation is in flight (their
   * record and Porto container are made at the same time).
   */
  async reconcile(): Promise<{ destroyed: string[]; dropped: string[] }> {
    const facts = await this.portoFacts();
    const destroyed: string[] = [];
    const dropped: string[] = [];
    // Pods first: destroying one takes its children along.
    const names = [...facts.keys()].sort((a, b) => a.length - b.length);
    for (const name of names) {
      const parsed = parsePortoName(name);
      // A creation in flight makes its record and its Porto container at the same time.
      if ((parsed.kind === "pod" && this.creating.has(parsed.podId)) || (parsed.kind === "container" && this.creating.has(parsed.containerId))) {
        continue;
      }
      const orphan =
        (parsed.kind === "pod" && !this.pods.has(parsed.podId)) ||
        (parsed.kind === "container" &&
          this.pods.has(parsed.podId) &&
          !this.containers.has(parsed.containerId));
      if (!orphan) continue;
      this.log.warn({ porto: name, state: facts.get(name)!.state }, "destroying a shim container without a record");
      await this.destroyQuietly(name);
      destroyed.push(name);
    }
    for (const record of [...this.containers.values()]) {
      if (!this.loadedIds.has(record.id)) continue;
      const podGone = !this.pods.has(record.podId) || !facts.has(podPortoName(record.podId));
      if (podGone || !facts.has(containerPortoName(record.podId, record.id))) {
        // Its pod was removed or its creation never reached Porto.
        if (!podGone) {
          this.log.warn({ container: record.id }, "dropping the record of a container Porto does not have");
        }
        await this.deleteContainer(record);
        dropped.push(record.id);
      }
    }
    for (const record of [...this.pods.values()]) {
      if (!this.loadedIds.has(record.id) || facts.has(podPortoName(record.id))) continue;
      this.log.warn({ pod: record.id }, "dropping the record of a pod Porto does not have");
      await this.deletePod(record);
      dropped.push(record.id);
    }
    return { destroyed, dropped };
  }

  /** Destroys a Porto container; one that is already gone is fine. */
  async destroyQuietly(name: string): Promise<void> {
    try {
      await this.porto.destroy(name);
    } catch (err) {
      if (!isPortoError(err, EError.ContainerDoesNotExist)) throw err;
    }
  }

  private *visible(ids: Iterable<string>): Iterable<string> {
    for (const id of ids) if (!this.creating.has(id)) yield id;
  }
}

/**
 * Waits for all of `steps`, then fails with the first failure, if any: a
 * creation's record write and its Porto request run together, and the undo
 * must not start while one of them is still running.
 */
export async function settleAll(steps: Array<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** The facts one ListContainersBy entry carries. */
export function factsOf(ct: TContainer): PortoFacts {
  const s = ct.status;
  if (s === undefined) return { state: "" };
  const has = (field: keyof typeof TContainerStatusSchema.field) => isFieldSet(s, TContainerStatusSchema.field[field]);
  const facts: PortoFacts = { state: s.state };
  if (has("exitCode") && (s.state === "dead" || s.state === "respawning")) facts.exitCode = s.exitCode;
  if (has("oomKilled")) facts.oomKilled = s.oomKilled;
  if (has("startTime")) facts.startTime = Number(s.startTime);
  if (has("deathTime")) facts.deathTime = Number(s.deathTime);
  if (s.startError !== undefined && s.startError.error !== EError.Success) facts.startError = s.startError.msg;
  return facts;
}

/**
 * Removes a container's root directory once Porto unmounted its volume. Only
 * an empty directory goes: if something is still mounted there or left
 * inside, it stays, logged, rather than deleting data through a mount.
 */
async function removeEmptyDir(path: string, log: Logger): Promise<void> {
  try {
    await rmdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") log.warn({ path, code }, "container root directory left in place");
  }
}
