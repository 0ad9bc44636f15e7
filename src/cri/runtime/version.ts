/**
 * Version: kubelet's first call. runtime_version is portod's own version, so an
 * operator sees which daemon actually runs the containers.
 */
import { create } from "@bufbuild/protobuf";
import { VersionResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { VersionRequest, VersionResponse } from "../../../gen/runtime/v1/api_pb.js";

/** The CRI version this shim implements; kubelet compares it with its own. */
export const CRI_API_VERSION = "v1";
/** Version of the kubelet-runtime API, as every v1 runtime reports it. */
const KUBE_API_VERSION = "0.1.0";

export interface VersionDeps {
  runtimeName: string;
  portoVersion(): Promise<{ tag: string; revision: string }>;
}

export async function version(deps: VersionDeps, _req: VersionRequest): Promise<VersionResponse> {
  const porto = await deps.portoVersion();
  return create(VersionResponseSchema, {
    version: KUBE_API_VERSION,
    runtimeName: deps.runtimeName,
    runtimeVersion: porto.tag,
    runtimeApiVersion: CRI_API_VERSION,
  });
}
