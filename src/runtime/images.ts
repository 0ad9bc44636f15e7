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

/** The parts of an OCI image config that decide how a container runs. */
export interface ImageRuntimeConfig {
  entrypoint: string[];
  cmd: string[];
  /** "NAME=value" each. */
  env: string[];
  workingDir: string;
  user: string;
  /** As the image says it ("SIGQUIT", "3"); "" when unset. */
  stopSignal: string;
}

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
 * An ImageResolver over Porto's image store alone. Porto reports Entrypoint
 * and Cmd merged and no WorkingDir, User or StopSignal; src/images reads
 * those from the stored config.json and replaces this where it is wired.
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
