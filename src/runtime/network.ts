/**
 * The seam between the pod lifecycle and pod networking. The lifecycle knows
 * a pod's network by the pod id only; src/network's PodNetwork (netns + CNI,
 * with records of its own) is plugged in through {@link cniPodNetwork}.
 * Without a network a pod gets a network namespace of its own holding only
 * loopback, made by Porto (`net: none`); hostNetwork pods always get the
 * host's and never reach this seam.
 *
 * The order the lifecycle keeps (docs/networking.md):
 * - RunPodSandbox: the pod's record, then setUp; the Porto container
 *   joining the namespace is made as soon as the namespace exists, while
 *   the plugins run (SetUpHooks); any failure after setUp began ends with
 *   the Porto container's destruction (once its creation settled) and remove.
 * - StopPodSandbox: the containers are killed, the pod marked NOTREADY, then
 *   tearDown (CNI DEL). RemovePodSandbox: the Porto container is destroyed,
 *   then remove (the namespace and the network's record), then the pod record.
 * So the network has a record only while the pod has one, and start-up
 * reconciliation ({@link reconcilePodNetworks}) may treat every network
 * without a pod record as left over.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { NamespaceMode } from "../../gen/runtime/v1/api_pb.js";
import type { PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import { podNetworkInput } from "../network/pod-network.js";
import type { PodNetwork as CniPodNetwork, ReconcileReport, SetUpHooks } from "../network/pod-network.js";
import { netnsNameFor, portoNetnsName } from "../network/netns.js";
import { podLockKey } from "./lookup.js";
import type { RuntimeState } from "./runtime-state.js";

/** What setting up a pod's network produced. */
export interface PodNetworkSetup {
  /** The network namespace file (for verbose status and operators). */
  netnsPath: string;
  /** The pod's IPs, IPv4 first: the pod IP, then the additional IPs. */
  ips: string[];
}

export interface PodNetwork {
  /**
   * The name the pod's Porto container joins its namespace by (Porto `net:
   * netns NAME`, resolved by portod under /var/run/netns). Throws
   * FailedPrecondition when portod cannot join the namespaces this network
   * makes, before anything is set up.
   */
  portoNetns(podId: string): string;
  /**
   * Makes the pod's network namespace and runs CNI ADD in it. Called before
   * the pod's Porto container is created. On failure it leaves nothing
   * behind, or a record that {@link remove} (which the caller runs anyway)
   * finishes.
   */
  setUp(podId: string, config: PodSandboxConfig, hooks?: SetUpHooks): Promise<PodNetworkSetup>;
  /** CNI DEL: the pod's addresses go back; the namespace stays. Idempotent, unknown pods included. */
  tearDown(podId: string): Promise<void>;
  /** DEL if still needed, then the namespace and the network's record. Idempotent. */
  remove(podId: string): Promise<void>;
  /** The node's pod CIDRs (UpdateRuntimeConfig), offered to plugins as ipRanges. */
  setPodCidrs(cidrs: readonly string[]): void;
  /**
   * At start-up, with every pod that has a record: networks of other pods
   * are torn down and removed. `incomplete` names pods whose ADD never
   * finished.
   */
  reconcile(livePodIds: Iterable<string>): Promise<ReconcileReport>;
}

/** Whether the pod gets a network from us: every pod but hostNetwork ones, which CNI never sees. */
export function usesPodNetwork(config: PodSandboxConfig): boolean {
  return config.linux?.securityContext?.namespaceOptions?.network !== NamespaceMode.NODE;
}

/** The lifecycle's view of src/network's PodNetwork. */
export function cniPodNetwork(net: CniPodNetwork, options: { netnsDir: string }): PodNetwork {
  const portoNetns = (podId: string): string => {
    const name = portoNetnsName(options.netnsDir, netnsNameFor(podId));
    if (name === undefined) {
      throw new ConnectError(
        `CNI.NetnsDir ${options.netnsDir} is not below /var/run/netns, where portod looks up the network namespaces pods join; pods without hostNetwork cannot run`,
        Code.FailedPrecondition,
      );
    }
    return name;
  };
  return {
    portoNetns,
    async setUp(podId, config, hooks) {
      const up = await net.setUp(podNetworkInput(podId, config), hooks);
      // The name the pod spec was built with must be the namespace just made.
      if (up.portoNet !== `netns ${portoNetns(podId)}`) {
        throw new ConnectError(`pod sandbox ${podId}: network namespace ${up.netnsPath} is not the one expected (${String(up.portoNet)})`, Code.Internal);
      }
      return { netnsPath: up.netnsPath, ips: up.ips };
    },
    tearDown: (podId) => net.tearDown(podId),
    remove: (podId) => net.remove(podId),
    setPodCidrs: (cidrs) => net.setPodCidrs(cidrs),
    reconcile: (live) => net.reconcile(live),
  };
}

/**
 * Start-up, after {@link RuntimeState.reconcile}: tears down and removes the
 * networks (and our stray namespaces) of pods that have no record any more.
 * Calls may already be served: every pod record counts as live, those of
 * creations in flight included, and the network never holds a record for a
 * pod without one (see the module comment), so nothing in use is touched.
 *
 * A pod that is visible while its ADD never finished cannot happen in the
 * order above (its Porto container is created after ADD); should one appear
 * anyway, it is marked NOTREADY, so kubelet stops it (DEL) and replaces it,
 * rather than the shim pulling a namespace out from under a running pod.
 */
export async function reconcilePodNetworks(state: RuntimeState, network: PodNetwork, logger: Logger): Promise<void> {
  // Both taken at once: a creation in flight is invisible now, and its ADD is its own call's business.
  const visible = new Set(state.listPods().map((p) => p.record.id));
  const report = await network.reconcile([...state.pods.ids()]);
  for (const podId of report.incomplete) {
    if (!visible.has(podId)) continue;
    await state.locks.run(podLockKey(podId), async () => {
      const pod = state.pod(podId);
      if (!pod || pod.record.state === "notready") return;
      logger.error({ pod: podId }, "pod sandbox whose network set-up never finished marked NOTREADY");
      await state.updatePod({ ...pod.record, state: "notready", ips: undefined });
    });
  }
  logger.info(
    { removed: report.removed.length, strayNetns: report.strayNetns.length, incomplete: report.incomplete.length, failed: report.failed.length },
    "pod networks reconciled",
  );
}
