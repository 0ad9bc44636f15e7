/**
 * The seam between the pod lifecycle and pod networking (CNI, netns). Until a
 * network is plugged in, a pod gets a network namespace of its own holding
 * only loopback, made by Porto (`net: none`), or the host's with hostNetwork.
 */
import type { PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";

/** What setting up a pod's network produced. */
export interface PodNetworkSetup {
  /** Named network namespace file the pod's Porto container joins. */
  netnsPath: string;
  /** The pod's IPs, primary first. */
  ips: string[];
}

export interface PodNetwork {
  /**
   * Makes the pod's network namespace and attaches it (CNI ADD). Called
   * before the pod's Porto container is created; on failure it must leave
   * nothing behind.
   */
  setUp(podId: string, config: PodSandboxConfig): Promise<PodNetworkSetup>;
  /** Detaches the pod (CNI DEL) and removes its namespace; idempotent. */
  tearDown(podId: string, config: PodSandboxConfig, netnsPath: string): Promise<void>;
}
