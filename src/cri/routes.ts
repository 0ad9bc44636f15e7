/**
 * Which handler answers which CRI method. Methods not listed here answer
 * UNIMPLEMENTED (connect's router fills them in), never UNKNOWN.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { ImageService, RuntimeService } from "../../gen/runtime/v1/api_pb.js";
import { version } from "./runtime/version.js";
import type { VersionDeps } from "./runtime/version.js";
import { status } from "./runtime/status.js";
import type { StatusDeps } from "./runtime/status.js";
import { runtimeConfig } from "./runtime/runtime-config.js";

export type CriDeps = VersionDeps & StatusDeps;

export function criRoutes(deps: CriDeps): (router: ConnectRouter) => void {
  return (router) => {
    router.service(RuntimeService, {
      version: (req) => version(deps, req),
      status: (req) => status(deps, req),
      runtimeConfig: () => runtimeConfig(),
    });
    router.service(ImageService, {});
  };
}
