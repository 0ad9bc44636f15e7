/**
 * What the ImageService handlers need; main.ts builds it, tests build it
 * around the Porto double.
 */
import type { CachedDiskUsage } from "../../images/disk-usage.js";
import type { ImageStore } from "../../images/image-store.js";

export interface ImageDeps {
  images: ImageStore;
  /** Usage of Porto.ImagesDir, the image store itself. */
  imageStoreUsage: CachedDiskUsage;
  /** Usage of Portoshim.VolumesDir, where containers' writable data lives. */
  volumesUsage: CachedDiskUsage;
}
