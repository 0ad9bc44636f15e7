/**
 * A resolved image as the CRI `Image` message, and its verbose info. Pure.
 */
import { create } from "@bufbuild/protobuf";
import { ImageSchema, ImageSpecSchema, Int64ValueSchema } from "../../gen/runtime/v1/api_pb.js";
import type { Image } from "../../gen/runtime/v1/api_pb.js";
import { imageUser } from "./image-config.js";
import type { ResolvedImage } from "./image-store.js";

/** The CRI Image: uid or username from USER (runAsNonRoot is checked against it), pinned for the pause image. */
export function toCriImage(image: ResolvedImage): Image {
  const user = imageUser(image.config.user);
  return create(ImageSchema, {
    id: image.id,
    repoTags: image.repoTags,
    repoDigests: image.repoDigests,
    // CRI wants a size > 0; portod reports 1 for schema 1 images, whose manifests carry none.
    size: image.size > 0n ? image.size : 1n,
    uid: user.uid !== undefined ? create(Int64ValueSchema, { value: user.uid }) : undefined,
    username: user.username,
    spec: create(ImageSpecSchema, { image: image.id }),
    pinned: image.pinned,
  });
}

/**
 * ImageStatus's verbose `info`: one JSON value under "info", as containerd
 * does, with the image config as stored (`imageSpec`) and portod's view.
 */
export function imageInfo(image: ResolvedImage): Record<string, string> {
  return {
    info: JSON.stringify({
      id: image.id,
      repoTags: image.repoTags,
      repoDigests: image.repoDigests,
      size: Number(image.size),
      pinned: image.pinned,
      portoNames: image.portoNames,
      layers: image.layers.map((l) => `sha256:${l}`),
      config: image.config,
      imageSpec: image.rawConfig ?? null,
    }),
  };
}
