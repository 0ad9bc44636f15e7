/**
 * Facts about a request that the transport needs: its name (for logs and
 * errors) and whether sending it twice is harmless.
 */

import { isFieldSet } from "@bufbuild/protobuf";
import { TContainerRequestSchema } from "../../gen/rpc_pb.js";
import type { TContainerRequest } from "../../gen/rpc_pb.js";

/** The request field that is set (`create`, `ListContainersBy`, ...), or "empty". */
export function requestMethod(req: TContainerRequest): string {
  for (const field of TContainerRequestSchema.fields) {
    if (isFieldSet(req, field)) return field.localName;
  }
  return "empty";
}

/**
 * Requests that only read. When the connection drops while one is in flight we
 * cannot know whether portod ran it; for these that does not matter, so the
 * pool repeats them once on a fresh connection. Anything that changes state
 * (create, start, SetLabel, pull, ...) is never repeated behind the caller's
 * back. `wait` is left out on purpose: repeating it would restart its timeout.
 */
const READ_ONLY = new Set<string>([
  "version",
  "list",
  "get",
  "getProperty",
  "getData",
  "propertyList",
  "dataList",
  "ListContainersBy",
  "FindLabel",
  "listVolumes",
  "listVolumeProperties",
  "GetVolume",
  "listLayers",
  "getlayerprivate",
  "listStorage",
  "dockerImageStatus",
  "listDockerImages",
  "GetSystem",
  "convertPath",
  "locateProcess",
]);

/** True when a request of this method may be sent again after a lost reply. */
export function isReadOnlyMethod(method: string): boolean {
  return READ_ONLY.has(method);
}
