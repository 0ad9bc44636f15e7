/** The image an ImageSpec names, required by every image RPC. */
import { Code, ConnectError } from "@connectrpc/connect";
import type { ImageSpec } from "../../../gen/runtime/v1/api_pb.js";

export function requiredImage(spec: ImageSpec | undefined): string {
  const image = spec?.image ?? "";
  if (image === "") throw new ConnectError("image: an image reference or id is required", Code.InvalidArgument);
  return image;
}
