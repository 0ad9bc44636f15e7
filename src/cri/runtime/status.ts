/**
 * Status: kubelet polls it every few seconds and marks the node NotReady when a
 * condition is false. RuntimeReady asks portod right now; NetworkReady looks at
 * the CNI config directory right now. Neither is cached, so both recover by
 * themselves when portod or the network config appears.
 */
import { create } from "@bufbuild/protobuf";
import { RuntimeConditionSchema, RuntimeStatusSchema, StatusResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { StatusRequest, StatusResponse } from "../../../gen/runtime/v1/api_pb.js";
import type { CniLoadResult } from "../../network/cni-config.js";

export const RUNTIME_READY = "RuntimeReady";
export const NETWORK_READY = "NetworkReady";

export interface StatusDeps {
  /** Resolves when portod answers a request; rejects with the reason otherwise. */
  pingPorto(): Promise<void>;
  loadCniConfig(): Promise<CniLoadResult>;
  /** The effective configuration with secrets removed, for verbose output. */
  redactedConfig(): unknown;
}

export async function status(deps: StatusDeps, req: StatusRequest): Promise<StatusResponse> {
  const [porto, cni] = await Promise.all([
    deps.pingPorto().then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    ),
    deps.loadCniConfig(),
  ]);
  const runtime = create(RuntimeConditionSchema, { type: RUNTIME_READY, status: porto === undefined });
  if (porto !== undefined) {
    runtime.reason = "PortodUnavailable";
    runtime.message = `portod does not answer: ${porto}`;
  }
  const network = create(RuntimeConditionSchema, { type: NETWORK_READY, status: cni.ok });
  if (!cni.ok) {
    network.reason = cni.reason;
    network.message = cni.message;
  }
  const info: Record<string, string> = {};
  if (req.verbose) {
    // crictl info prints each value parsed as JSON.
    info.config = JSON.stringify(deps.redactedConfig());
    info.cniConfig = JSON.stringify(cni.ok ? { path: cni.config.path, name: cni.config.name } : null);
  }
  return create(StatusResponseSchema, {
    status: create(RuntimeStatusSchema, { conditions: [runtime, network] }),
    info,
  });
}
