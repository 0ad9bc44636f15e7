/**
 * RemoveImage: removes the image an id, tag or digest names, with all its
 * names (CRI: "removing by one tag removes the image and all its tags").
 * Removing an absent image succeeds, since kubelet retries.
 *
 * An image a container's root volume is built from is refused with
 * FailedPrecondition, as CRI-O and Docker refuse it. containerd lets it go
 * because its snapshots keep the layers alive; portod would delete the layer
 * archives under a running volume and leave layers no later pull can
 * re-import, so "remove safely" is not available here.
 */
import { create } from "@bufbuild/protobuf";
import { RemoveImageResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { RemoveImageRequest, RemoveImageResponse } from "../../../gen/runtime/v1/api_pb.js";
import type { ImageDeps } from "./deps.js";
import { requiredImage } from "./image-spec.js";

export async function removeImage(deps: ImageDeps, req: RemoveImageRequest): Promise<RemoveImageResponse> {
  await deps.images.remove(requiredImage(req.image));
  return create(RemoveImageResponseSchema, {});
}
