/**
 * UpdateRuntimeConfig: kubelet passes the node's pod CIDR once it knows it.
 * Pod addresses come from the CNI config, not from the runtime: the shim
 * keeps the CIDR (durably, across restarts) and offers it to the CNI plugins
 * as the ipRanges capability (host-local allocates from it when its config
 * declares `capabilities: {ipRanges: true}`).
 */
import { create } from "@bufbuild/protobuf";
import { UpdateRuntimeConfigResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse } from "../../../gen/runtime/v1/api_pb.js";
import { isIP } from "node:net";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { invalidArgument } from "../../runtime/lookup.js";

export async function updateRuntimeConfig(
  deps: RuntimeDeps,
  req: UpdateRuntimeConfigRequest,
): Promise<UpdateRuntimeConfigResponse> {
  const podCidr = req.runtimeConfig?.networkConfig?.podCidr ?? "";
  for (const cidr of podCidr === "" ? [] : podCidr.split(",")) {
    const [addr, bits, extra] = cidr.trim().split("/");
    const family = isIP(addr ?? "");
    const max = family === 6 ? 128 : 32;
    if (!family || extra !== undefined || !/^\d+$/.test(bits ?? "") || Number(bits) > max) {
      throw invalidArgument("runtime_config.network_config.pod_cidr", `${JSON.stringify(cidr)} is not a CIDR`);
    }
  }
  if (podCidr !== "" && podCidr !== deps.state.podCidr) {
    await deps.state.setPodCidr(podCidr);
    deps.logger.info({ podCidr }, "pod CIDR set");
  }
  // Kept by the state for start-up, where main.ts hands it to the network again.
  if (podCidr !== "") deps.network?.setPodCidrs(podCidr.split(","));
  return create(UpdateRuntimeConfigResponseSchema);
}
