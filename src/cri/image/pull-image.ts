/**
 * PullImage: portod pulls into its store with the credentials chosen for the
 * registry (the request's, then the config's, then none); the answer is the
 * image id, the same one ListImages, ImageStatus and ContainerStatus report.
 * Concurrent pulls of one image share one portod pull. The caller cancelling
 * ends its wait, not the pull.
 */
import { create } from "@bufbuild/protobuf";
import { PullImageResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { PullImageRequest, PullImageResponse } from "../../../gen/runtime/v1/api_pb.js";
import type { ImageDeps } from "./deps.js";
import { requiredImage } from "./image-spec.js";

export async function pullImage(deps: ImageDeps, req: PullImageRequest, signal?: AbortSignal): Promise<PullImageResponse> {
  const image = await deps.images.pull(requiredImage(req.image), req.auth, signal);
  return create(PullImageResponseSchema, { imageRef: image.id });
}
