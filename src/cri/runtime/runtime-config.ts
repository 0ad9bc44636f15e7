/**
 * RuntimeConfig: kubelet (1.28+) asks which cgroup driver the runtime uses and
 * adopts it. Porto manages cgroupfs hierarchies itself, never through systemd.
 */
import { create } from "@bufbuild/protobuf";
import { CgroupDriver, LinuxRuntimeConfigurationSchema, RuntimeConfigResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { RuntimeConfigResponse } from "../../../gen/runtime/v1/api_pb.js";

export function runtimeConfig(): RuntimeConfigResponse {
  return create(RuntimeConfigResponseSchema, {
    linux: create(LinuxRuntimeConfigurationSchema, { cgroupDriver: CgroupDriver.CGROUPFS }),
  });
}
