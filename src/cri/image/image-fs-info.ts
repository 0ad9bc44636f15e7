/**
 * ImageFsInfo: what the image store itself uses (Porto.ImagesDir walked like
 * `du -x`, not its filesystem's totals, which belong to everything else on
 * /place too), when that was measured, and where it lives. kubelet's image
 * GC compares this usage with the filesystem's capacity.
 *
 * container_filesystems is filled only when containers' writable data
 * (Portoshim.VolumesDir) sits on another filesystem than the images, as the
 * CRI asks; kubelet then treats the two as separate disks.
 *
 * Walks are cached for a few seconds (disk-usage.ts): crictl and kubelet
 * call this often, and the store can hold many files.
 */
import { create } from "@bufbuild/protobuf";
import {
  FilesystemIdentifierSchema,
  FilesystemUsageSchema,
  ImageFsInfoResponseSchema,
  UInt64ValueSchema,
} from "../../../gen/runtime/v1/api_pb.js";
import type { FilesystemUsage, ImageFsInfoResponse } from "../../../gen/runtime/v1/api_pb.js";
import type { DiskUsage } from "../../images/disk-usage.js";
import type { ImageDeps } from "./deps.js";

export async function imageFsInfo(deps: ImageDeps): Promise<ImageFsInfoResponse> {
  const [images, volumes] = await Promise.all([deps.imageStoreUsage.get(), deps.volumesUsage.get()]);
  const separate = images.dev !== undefined && volumes.dev !== undefined && images.dev !== volumes.dev;
  return create(ImageFsInfoResponseSchema, {
    imageFilesystems: [usage(deps.imageStoreUsage.dir, images)],
    containerFilesystems: separate ? [usage(deps.volumesUsage.dir, volumes)] : [],
  });
}

function usage(mountpoint: string, u: DiskUsage): FilesystemUsage {
  return create(FilesystemUsageSchema, {
    timestamp: u.timestampNs,
    fsId: create(FilesystemIdentifierSchema, { mountpoint }),
    usedBytes: create(UInt64ValueSchema, { value: u.bytes }),
    inodesUsed: create(UInt64ValueSchema, { value: u.inodes }),
  });
}
