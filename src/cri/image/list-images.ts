/**
 * ListImages and StreamImages: every image portod has, or with a filter the
 * one image it names (as CRI-O; containerd ignores the filter). Records of
 * images portod no longer has are dropped on the way.
 */
import { create } from "@bufbuild/protobuf";
import { ListImagesResponseSchema, StreamImagesResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type {
  Image,
  ImageFilter,
  ListImagesRequest,
  ListImagesResponse,
  StreamImagesRequest,
  StreamImagesResponse,
} from "../../../gen/runtime/v1/api_pb.js";
import { toCriImage } from "../../images/cri-image.js";
import type { ImageDeps } from "./deps.js";

/** Images per StreamImages message: far below any message size limit. */
const STREAM_BATCH = 100;

export async function listImages(deps: ImageDeps, req: ListImagesRequest): Promise<ListImagesResponse> {
  return create(ListImagesResponseSchema, { images: await selected(deps, req.filter) });
}

/** The same list in batches; no message at all when there are no images (each batch has at least one). */
export async function* streamImages(deps: ImageDeps, req: StreamImagesRequest): AsyncGenerator<StreamImagesResponse> {
  const images = await selected(deps, req.filter);
  for (let i = 0; i < images.length; i += STREAM_BATCH) {
    yield create(StreamImagesResponseSchema, { images: images.slice(i, i + STREAM_BATCH) });
  }
}

async function selected(deps: ImageDeps, filter: ImageFilter | undefined): Promise<Image[]> {
  const wanted = filter?.image?.image ?? "";
  const images = wanted === "" ? await deps.images.list() : [await deps.images.resolve(wanted)].filter((i) => i !== undefined);
  return images.map(toCriImage);
}
