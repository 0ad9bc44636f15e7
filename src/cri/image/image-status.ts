/**
 * ImageStatus: the image an id, tag or digest names. An image that is not
 * there is an empty response, not an error: kubelet asks before every pull.
 */
import { create } from "@bufbuild/protobuf";
import { ImageStatusResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { ImageStatusRequest, ImageStatusResponse } from "../../../gen/runtime/v1/api_pb.js";
import { imageInfo, toCriImage } from "../../images/cri-image.js";
import type { ImageDeps } from "./deps.js";
import { requiredImage } from "./image-spec.js";

export async function imageStatus(deps: ImageDeps, req: ImageStatusRequest): Promise<ImageStatusResponse> {
  const image = await deps.images.resolve(requiredImage(req.image));
  if (!image) return create(ImageStatusResponseSchema, {});
  return create(ImageStatusResponseSchema, {
    image: toCriImage(image),
    info: req.verbose ? imageInfo(image) : {},
  });
}
