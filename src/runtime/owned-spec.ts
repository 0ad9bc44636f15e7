/**
 * What every Porto container the shim creates carries, whatever the mapping
 * put in its spec: the CRI.managed label, by which the shim finds its own
 * containers and leaves every other one alone, and an aging_time long enough
 * that portod never destroys an exited container by itself (its default is a
 * day; CRI keeps exited containers until RemoveContainer).
 */
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

export function ownedSpec(init: MessageInitShape<typeof TContainerSpecSchema>): TContainerSpec {
  const spec = create(TContainerSpecSchema, init);
  const labels = (spec.labels?.map ?? []).filter((e) => e.key !== MANAGED_LABEL);
  labels.push(create(TStringMap_TStringMapEntrySchema, { key: MANAGED_LABEL, val: MANAGED_VALUE }));
  // A new container has no labels to merge with: the map is the whole set.
  spec.labels = create(TStringMapSchema, { map: labels });
  spec.weak = false;
  spec.agingTime = KEEP_DEAD_SECONDS;
  return spec;
}
