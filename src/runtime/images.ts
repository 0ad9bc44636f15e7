/**
 * How CreateContainer finds the image a container runs: the image must have
 * been pulled (containerd answers NotFound otherwise), and its id, reference
 * and runtime config (Entrypoint, Cmd, Env, WorkingDir, User, StopSignal)
 * come with it.
 */
import { EError } from "../../gen/rpc_pb.js";
import type { TDockerImage } from "../../gen/rpc_pb.js";
import { isPortoError } from "../porto/errors.js";
import type { PortoClient } from "../porto/client.js";
import type { ImageRuntimeConfig } from "../mapping/image-runtime.js";

export type { ImageRuntimeConfig };

export interface ResolvedImage {
  /** "sha256:<hex>". */
  id: string;
  /** image_ref for status: a repo digest when there is one, else the id. */
  ref: string;
  /** The name Porto stores it under: what a root volume's `image` names. */
  portoName: string;
  config: ImageRuntimeConfig;
}

export interface ImageResolver {
  /** The pulled image `ref` names (a reference or an id); undefined when it is not there. */
  resolve(ref: string): Promise<ResolvedImage | undefined>;
}

/**
 * An ImageResolver over Porto's image store alone, for tests and tools.
 * Porto reports Entrypoint and Cmd merged and no WorkingDir, User or
 * StopSignal; the shim itself uses src/images (runtime-images.ts), which
 * reads those from the stored config.json.
 */
export function portoImageResolver(porto: PortoClient, place?: string): ImageResolver {
  return {
    async resolve(ref) {
      let image: TDockerImage;
      try {
        image = await porto.dockerImageStatus(ref, { place });
      } catch (err) {
        if (isPortoError(err, EError.DockerImageNotFound, EError.InvalidValue)) return undefined;
        throw err;
      }
      const id = `sha256:${image.id}`;
      return {
        id,
        ref: image.digests.find((d) => d.includes("@")) ?? id,
        portoName: image.tags[0] ?? image.id,
        config: {
          entrypoint: [],
          cmd: [...(image.config?.cmd ?? [])],
          env: [...(image.config?.env ?? [])],
          workingDir: "",
          user: "",
          stopSignal: "",
        },
      };
    },
  };
}
