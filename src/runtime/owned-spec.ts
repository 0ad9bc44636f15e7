/**
 * What every Porto container the shim creates carries, whatever the mapping
 * put in its spec: the CRI.managed label, by which the shim finds its own
 * containers and leaves every other one alone; the CRI.instance label, which
 * names the state directory whose records describe it, so that a second shim
 * on the same portod (a test, a misconfigured node) never takes the first
 * one's containers for orphans and destroys them; and an aging_time long
 * enough that portod never destroys an exited container by itself (its
 * default is a day; CRI keeps exited containers until RemoveContainer).
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TContainerSpecSchema, TStringMap_TStringMapEntrySchema, TStringMapSchema } from "../../gen/rpc_pb.js";
import type { TContainerSpec } from "../../gen/rpc_pb.js";
import { MANAGED_LABEL, MANAGED_VALUE } from "../mapping/porto-names.js";

/**
 * Seconds a dead container is kept: 2^32-1 (136 years). portod keeps it as
 * milliseconds in a uint64 added to the death time, so larger values could
 * wrap around and expire at once.
 */
export const KEEP_DEAD_SECONDS = 0xffffffffn;

/** Label naming the shim instance (its state directory) that owns a container. */
export const INSTANCE_LABEL = "CRI.instance";

/** The CRI.instance value of a state directory: 16 hex digits of its path's SHA-256. */
export function instanceTag(stateDir: string): string {
  return createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 16);
}

export function ownedSpec(init: MessageInitShape<typeof TContainerSpecSchema>, instance: string): TContainerSpec {
  const spec = create(TContainerSpecSchema, init);
  const labels = (spec.labels?.map ?? []).filter((e) => e.key !== MANAGED_LABEL && e.key !== INSTANCE_LABEL);
  labels.push(create(TStringMap_TStringMapEntrySchema, { key: MANAGED_LABEL, val: MANAGED_VALUE }));
  labels.push(create(TStringMap_TStringMapEntrySchema, { key: INSTANCE_LABEL, val: instance }));
  // A new container has no labels to merge with: the map is the whole set.
  spec.labels = create(TStringMapSchema, { map: labels });
  spec.weak = false;
  spec.agingTime = KEEP_DEAD_SECONDS;
  return spec;
}
