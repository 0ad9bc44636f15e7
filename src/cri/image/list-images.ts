/**
 * ListImages and StreamImages: every image portod has, or those a filter
 * names (containerd ignores the filter; CRI-O resolves it to one image). A
 * filter with a tag, a digest or an id names that one image; a bare
 * repository ("busybox") names all of its images, which is what
 * `crictl images busybox` means. Records of images portod no longer has are
 * dropped on the way.
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
import { bareRepository } from "../../images/reference.js";
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
  if (wanted === "") return (await deps.images.list()).map(toCriImage);
  const repository = bareRepository(wanted);
  if (repository !== undefined) {
    const inRepository = (name: string) => name.startsWith(`${repository}:`) || name.startsWith(`${repository}@`);
    const all = await deps.images.list();
    const matching = all.filter((i) => [...i.repoTags, ...i.repoDigests].some(inRepository));
    // A bare hex string is also a repository name; as an id prefix it names one image.
    if (matching.length > 0 || !/^[a-f0-9]+$/.test(wanted)) return matching.map(toCriImage);
  }
  const one = await deps.images.resolve(wanted);
  return one ? [toCriImage(one)] : [];
}
