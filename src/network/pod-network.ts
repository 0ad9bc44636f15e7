/**
 * A pod's network, as the sandbox lifecycle uses it: a named network
 * namespace per pod, the node's CNI network added to it, and what DEL will
 * need kept on disk so that teardown works after a shim restart.
 *
 * Records: one per pod in StateDir/cni/<pod id>.json (RecordStore: atomic
 * replace), holding the netns, the network config list as used for ADD (the
 * file in ConfDir may change or vanish before DEL), CNI_ARGS, the capability
 * arguments and, once ADD succeeded, its result. The record is written before
 * the namespace is created and before ADD runs, so a crash at any point leaves
 * something `reconcile` finds and undoes: DEL with whatever was kept (plugins
 * must accept a DEL without prevResult after an ADD that never finished), then
 * the namespace, then the record.
 *
 * States: "adding" (ADD not finished), "up" (ADD succeeded: the IPs are
 * the pod's), "down" (DEL done; the namespace stays until remove). Calls for
 * one pod are serialised; calls for different pods run in parallel.
 *
 * Every method throws ConnectErrors with a deliberate code: InvalidArgument
 * for pod input CNI cannot carry, FailedPrecondition when no network config is
 * installed (NetworkReady is false) or a plugin it names is not in BinDir, DeadlineExceeded when a plugin was killed
 * at CNI.PluginTimeout, Unavailable for other plugin failures, AlreadyExists
 * for a second setUp, Internal for the rest (namespace tools, files).
 */
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { RecordStore } from "../store/record-store.js";
import { loadCniConfig } from "./cni-config.js";
import type { CniLoadResult } from "./cni-config.js";
import { addNetworkList, checkNetworkList, CniPluginError, delNetworkList, findPlugin } from "./cni-exec.js";
import type { CniExecOptions, CniNetworkList, CniRuntimeConf } from "./cni-exec.js";
import { capabilityArgs, cniArgs, PodNetworkInputError } from "./cni-capabilities.js";
import type { PodNetworkInput } from "./cni-capabilities.js";
import { podIps } from "./cni-result.js";
import { createNetns, isNetnsMounted, listNetns, netnsNameFor, podIdOfNetns, portoNetnsName, removeNetns } from "./netns.js";

export type { PodNetworkInput, CniBandwidth } from "./cni-capabilities.js";
export { podNetworkInput } from "./cni-capabilities.js";

/** The interface CNI creates in the pod (CNI_IFNAME), as in containerd and CRI-O. */
export const POD_IFNAME = "eth0";

/** Namespace operations; replaceable so the bookkeeping can be tested without root. */
export interface NetnsOps {
  create(dir: string, name: string): Promise<string>;
  remove(dir: string, name: string): Promise<void>;
  list(dir: string): Promise<string[]>;
  /** Whether `path` still holds a namespace (else DEL gets an empty CNI_NETNS). */
  isMounted(path: string): Promise<boolean>;
}

export const systemNetns: NetnsOps = {
  create: createNetns,
  remove: removeNetns,
  list: listNetns,
  isMounted: isNetnsMounted,
};

export interface PodNetworkOptions {
  /** CNI.ConfDir, read again for every setUp. */
  confDir: string;
  /** CNI.BinDir: plugin directories separated by ":". */
  binDir: string;
  /** CNI.NetnsDir. */
  netnsDir: string;
  /** CNI.PluginTimeout, per plugin invocation. */
  pluginTimeoutMs: number;
  /** Portoshim.StateDir; records go to its cni/ subdirectory. */
  stateDir: string;
  logger: Logger;
  netns?: NetnsOps;
  /** Environment plugins inherit (process.env by default). */
  env?: NodeJS.ProcessEnv;
}

/** What setUp tells its caller while it works. */
export interface SetUpHooks {
  /**
   * Called once the namespace exists, before the plugins run: whatever only
   * needs to join the namespace (the pod's Porto container) can be made
   * while ADD runs, which is most of setUp's time. Not called when setUp
   * fails before that point.
   */
  namespaceReady?: () => void;
}

/** What setUp made. */
export interface PodNetworkSetUp {
  netnsName: string;
  netnsPath: string;
  /**
   * The value for the pod's Porto `net` property ("netns NAME"), or
   * undefined when NetnsDir is not below /var/run/netns and portod cannot
   * join the namespace by name.
   */
  portoNet: string | undefined;
  /** IPv4 first, then IPv6: the pod IP and the additional IPs. */
  ips: string[];
  /** The CNI ADD result of the last plugin, as printed. */
  result: unknown;
}

export interface PodNetworkStatus {
  state: "adding" | "up" | "down";
  netnsName: string;
  netnsPath: string;
  portoNet: string | undefined;
  /** Empty unless up: after DEL the addresses may already belong to another pod. */
  ips: string[];
}

export interface ReconcileReport {
  /** Pods whose leftover network was torn down and removed. */
  removed: string[];
  /** Namespaces of ours with neither a record nor a live pod, removed. */
  strayNetns: string[];
  /** Live pods whose ADD never finished (a crash during RunPodSandbox): the caller should remove them. */
  incomplete: string[];
  failed: Array<{ podId: string; error: string }>;
}

interface PodNetworkRecord {
  podId: string;
  state: "adding" | "up" | "down";
  netnsDir: string;
  netnsName: string;
  ifName: string;
  /** The config list as used for ADD, and the file it came from. */
  network: CniNetworkList & { path: string };
  args: Array<[string, string]>;
  capabilityArgs: Record<string, unknown>;
  result?: unknown;
  ips?: string[];
}

export class PodNetwork {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly netns: NetnsOps;
  private podCidrs: string[] = [];

  private constructor(
    private readonly options: PodNetworkOptions,
    private readonly store: RecordStore<PodNetworkRecord>,
  ) {
    this.netns = options.netns ?? systemNetns;
  }

  /** Loads the records kept in StateDir/cni. */
  static async open(options: PodNetworkOptions): Promise<PodNetwork> {
    const store = new RecordStore<PodNetworkRecord>({
      dir: join(options.stateDir, "cni"),
      onCorrupt: (file, err) => options.logger.error({ file, err: err.message }, "unreadable pod network record set aside"),
    });
    await store.load();
    return new PodNetwork(options, store);
  }

  /** The network config right now: what Status reports as NetworkReady. */
  ready(): Promise<CniLoadResult> {
    return loadCniConfig(this.options.confDir);
  }

  /** The node's pod CIDRs from UpdateRuntimeConfig, offered to plugins as ipRanges. */
  setPodCidrs(cidrs: readonly string[]): void {
    this.podCidrs = cidrs.map((c) => c.trim()).filter((c) => c !== "");
  }

  /**
   * Creates the pod's namespace and runs ADD in it. On any failure after the
   * namespace exists, DEL runs and the namespace is removed before the error
   * is thrown; if that cleanup fails too, the record stays for `remove` or
   * the next `reconcile` to finish it.
   */
  async setUp(pod: PodNetworkInput, hooks: SetUpHooks = {}): Promise<PodNetworkSetUp> {
    return this.withLock(pod.id, async () => {
      if (this.store.has(pod.id)) {
        throw new ConnectError(`network of pod sandbox ${pod.id} is already set up`, Code.AlreadyExists);
      }
      let args: Array<[string, string]>;
      let caps: Record<string, unknown>;
      try {
        args = cniArgs(pod);
        caps = capabilityArgs(pod, this.podCidrs);
      } catch (err) {
        throw coded(err, `cannot set up network of pod sandbox ${pod.id}`);
      }
      const loaded = await this.ready();
      if (!loaded.ok) throw new ConnectError(loaded.message, Code.FailedPrecondition);
      const { path, name, cniVersion, plugins, disableCheck } = loaded.config;
      // A plugin that is not installed fails ADD, and then DEL too, which would leave the
      // namespace and the record until it is: refuse before making anything.
      for (const plugin of plugins) {
        try {
          await findPlugin(plugin.type, this.options.binDir);
        } catch (err) {
          throw new ConnectError(`network ${JSON.stringify(name)} (${path}): ${(err as Error).message}`, Code.FailedPrecondition);
        }
      }
      const rec: PodNetworkRecord = {
        podId: pod.id,
        state: "adding",
        netnsDir: this.options.netnsDir,
        netnsName: netnsNameFor(pod.id),
        ifName: POD_IFNAME,
        network: { path, name, cniVersion, plugins, disableCheck },
        args,
        capabilityArgs: caps,
      };
      await this.store.put(pod.id, rec);
      try {
        await this.netns.create(rec.netnsDir, rec.netnsName);
      } catch (err) {
        await this.store.delete(pod.id).catch((e: unknown) => this.log(pod.id).error({ err: String(e) }, "cannot delete pod network record"));
        throw coded(err, `cannot create network namespace for pod sandbox ${pod.id}`);
      }
      hooks.namespaceReady?.();
      let result: unknown;
      try {
        result = await addNetworkList(rec.network, await this.runtimeConf(rec), this.execOptions(pod.id));
        const ips = podIps(result, rec.ifName);
        if (ips.length === 0) {
          throw new CniPluginError(
            `network ${JSON.stringify(name)} gave the pod no IP address on ${rec.ifName} (result: ${JSON.stringify(result).slice(0, 500)})`,
            plugins[plugins.length - 1]!.type,
            "ADD",
          );
        }
        await this.store.put(pod.id, { ...rec, state: "up", result, ips });
        this.log(pod.id).info({ network: name, ips, netns: rec.netnsName }, "pod network set up");
        return { netnsName: rec.netnsName, netnsPath: netnsPathOf(rec), portoNet: portoNetOf(rec), ips, result };
      } catch (err) {
        await this.undoAdd(rec, result);
        throw coded(err, `failed to set up network for pod sandbox ${pod.id}`);
      }
    });
  }

  /**
   * DEL (StopPodSandbox). Idempotent: a pod already down or unknown is fine.
   * The namespace stays until `remove`.
   */
  async tearDown(podId: string): Promise<void> {
    return this.withLock(podId, async () => {
      const rec = this.store.get(podId);
      if (rec === undefined || rec.state === "down") return;
      await this.del(rec);
    });
  }

  /** DEL if still needed, then the namespace and the record (RemovePodSandbox). Idempotent. */
  async remove(podId: string): Promise<void> {
    return this.withLock(podId, async () => {
      const rec = this.store.get(podId);
      if (rec !== undefined && rec.state !== "down") await this.del(rec);
      try {
        await this.netns.remove(rec?.netnsDir ?? this.options.netnsDir, rec?.netnsName ?? netnsNameFor(podId));
      } catch (err) {
        throw coded(err, `cannot remove network namespace of pod sandbox ${podId}`);
      }
      if (rec !== undefined) await this.store.delete(podId);
      if (rec !== undefined) this.log(podId).info({ netns: rec.netnsName }, "pod network removed");
    });
  }

  /** The pod's namespace and IPs, or undefined when it has no network of ours (hostNetwork, removed). */
  status(podId: string): PodNetworkStatus | undefined {
    const rec = this.store.get(podId);
    if (rec === undefined) return undefined;
    return {
      state: rec.state,
      netnsName: rec.netnsName,
      netnsPath: netnsPathOf(rec),
      portoNet: portoNetOf(rec),
      ips: rec.state === "up" ? [...(rec.ips ?? [])] : [],
    };
  }

  /** CHECK against the kept ADD result (spec 0.4.0 and later). */
  async check(podId: string): Promise<void> {
    return this.withLock(podId, async () => {
      const rec = this.store.get(podId);
      if (rec === undefined || rec.state !== "up") throw new ConnectError(`pod sandbox ${podId} has no network set up`, Code.NotFound);
      try {
        await checkNetworkList(rec.network, await this.runtimeConf(rec), rec.result, this.execOptions(podId));
      } catch (err) {
        throw coded(err, `network check of pod sandbox ${podId} failed`);
      }
    });
  }

  /**
   * At start-up, with the ids of every pod sandbox that exists in Porto:
   * the networks of pods that no longer exist are torn down and removed, and
   * so are our namespaces that belong to no record and no pod. Must run before
   * the CRI server takes calls, and only with a complete list: a pod missing
   * from it loses its network.
   */
  async reconcile(livePodIds: Iterable<string>): Promise<ReconcileReport> {
    const live = new Set(livePodIds);
    const report: ReconcileReport = { removed: [], strayNetns: [], incomplete: [], failed: [] };
    for (const podId of [...this.store.ids()]) {
      if (live.has(podId)) {
        if (this.store.get(podId)?.state === "adding") report.incomplete.push(podId);
        continue;
      }
      try {
        await this.remove(podId);
        report.removed.push(podId);
      } catch (err) {
        report.failed.push({ podId, error: (err as Error).message });
      }
    }
    let names: string[] = [];
    try {
      names = await this.netns.list(this.options.netnsDir);
    } catch (err) {
      report.failed.push({ podId: "", error: `cannot list ${this.options.netnsDir}: ${(err as Error).message}` });
    }
    for (const name of names) {
      // Never someone else's (containerd's cni-*), whatever the lister returned.
      const podId = podIdOfNetns(name);
      if (podId === undefined || live.has(podId)) continue;
      await this.withLock(podId, async () => {
        if (this.store.has(podId)) return;
        try {
          await this.netns.remove(this.options.netnsDir, name);
          report.strayNetns.push(name);
        } catch (err) {
          report.failed.push({ podId, error: (err as Error).message });
        }
      });
    }
    const logger = this.options.logger;
    if (report.failed.length > 0) logger.error({ ...report }, "pod network reconciliation left work undone");
    else if (report.removed.length + report.strayNetns.length > 0) logger.info({ ...report }, "pod networks left by a crash cleaned up");
    return report;
  }

  private async del(rec: PodNetworkRecord): Promise<void> {
    try {
      await delNetworkList(rec.network, await this.runtimeConf(rec), rec.result, this.execOptions(rec.podId));
    } catch (err) {
      throw coded(err, `failed to tear down network of pod sandbox ${rec.podId}`);
    }
    const { result: _result, ips: _ips, ...rest } = rec;
    await this.store.put(rec.podId, { ...rest, state: "down" });
    this.log(rec.podId).info({ network: rec.network.name }, "pod network torn down");
  }

  /** After a failed ADD: release what it may have taken, then the namespace; keep the record if that fails. */
  private async undoAdd(rec: PodNetworkRecord, result: unknown): Promise<void> {
    const log = this.log(rec.podId);
    try {
      await delNetworkList(rec.network, await this.runtimeConf(rec), result, this.execOptions(rec.podId));
    } catch (err) {
      log.error({ err: (err as Error).message }, "DEL after a failed ADD failed; the record stays for remove or reconcile");
      return;
    }
    try {
      await this.netns.remove(rec.netnsDir, rec.netnsName);
      await this.store.delete(rec.podId);
    } catch (err) {
      log.error({ err: (err as Error).message }, "cannot remove namespace after a failed ADD; the record stays");
      await this.store.put(rec.podId, { ...rec, state: "down" }).catch(() => {});
    }
  }

  private async runtimeConf(rec: PodNetworkRecord): Promise<CniRuntimeConf> {
    const path = netnsPathOf(rec);
    return {
      containerId: rec.podId,
      // containerd passes "" for a namespace that is gone; plugins accept that on DEL.
      netnsPath: (await this.netns.isMounted(path)) ? path : "",
      ifName: rec.ifName,
      args: rec.args,
      capabilityArgs: rec.capabilityArgs,
    };
  }

  private execOptions(podId: string): CniExecOptions {
    return {
      binDir: this.options.binDir,
      timeoutMs: this.options.pluginTimeoutMs,
      logger: this.log(podId),
      env: this.options.env,
    };
  }

  private log(podId: string): Logger {
    return this.options.logger.child({ podId });
  }

  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}

function netnsPathOf(rec: PodNetworkRecord): string {
  return join(rec.netnsDir, rec.netnsName);
}

function portoNetOf(rec: PodNetworkRecord): string | undefined {
  const name = portoNetnsName(rec.netnsDir, rec.netnsName);
  return name === undefined ? undefined : `netns ${name}`;
}

/** A ConnectError with the code this module promises for `err`, the cause kept. */
function coded(err: unknown, context: string): ConnectError {
  if (err instanceof ConnectError) return err;
  const message = `${context}: ${err instanceof Error ? err.message : String(err)}`;
  let code = Code.Internal;
  if (err instanceof PodNetworkInputError) code = Code.InvalidArgument;
  else if (err instanceof CniPluginError) code = err.timedOut ? Code.DeadlineExceeded : Code.Unavailable;
  return new ConnectError(message, code, undefined, undefined, err);
}
