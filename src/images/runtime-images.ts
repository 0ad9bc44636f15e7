/**
 * The image store as the container lifecycle sees it (src/runtime/images.ts
 * `ImageResolver`, matched by shape so neither side imports the other):
 * CreateContainer resolves its image here and gets the full config that only
 * portod's stored config.json has (split Entrypoint and Cmd, WorkingDir,
 * User, StopSignal), and RunPodSandbox can have the pause image pulled on
 * first use with the configured registry credentials.
 */
import type { ImageConfig } from "./image-config.js";
import type { ImageStore } from "./image-store.js";

export interface RuntimeImage {
  /** "sha256:<hex>": what PullImage returned and ContainerStatus.image_id reports. */
  id: string;
  /** ContainerStatus.image_ref: a repo digest when one is known, else the id. */
  ref: string;
  /** What to give portod as a volume's `image`: the id, which no later pull of a tag can move. */
  portoName: string;
  config: ImageConfig;
}

export interface RuntimeImages {
  /** The pulled image `ref` names (reference or id); undefined when it is not there. */
  resolve(ref: string): Promise<RuntimeImage | undefined>;
  /** The configured pause image, pulled now (configured credentials) if portod lacks it. */
  ensurePauseImage(signal?: AbortSignal): Promise<RuntimeImage>;
}

export function runtimeImages(store: ImageStore, pauseImage: string): RuntimeImages {
  const shape = (i: NonNullable<Awaited<ReturnType<ImageStore["resolve"]>>>): RuntimeImage => ({
    id: i.id,
    ref: i.repoDigests[0] ?? i.id,
    portoName: store.portoImage(i),
    config: i.config,
  });
  return {
    async resolve(ref) {
      const image = await store.resolve(ref);
      return image ? shape(image) : undefined;
    },
    async ensurePauseImage(signal) {
      return shape(await store.ensure(pauseImage, signal));
    },
  };
}
