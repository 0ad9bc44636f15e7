/**
 * Labels the shim puts on its Porto containers besides MANAGED_LABEL
 * (porto-names.ts). Porto label names are PREFIX.rest with an upper-case
 * prefix; values use Porto's name characters only, which ids and kinds do.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { TStringMapSchema } from "../../gen/rpc_pb.js";
import { MANAGED_LABEL, MANAGED_VALUE } from "./porto-names.js";

/** The CRI id of the pod or container. */
export const ID_LABEL = "CRI.id";
/** "pod" or "container". */
export const KIND_LABEL = "CRI.kind";

export type Kind = "pod" | "container";

/** The labels of a new shim container. */
export function shimLabels(kind: Kind, id: string): MessageInitShape<typeof TStringMapSchema> {
  return {
    map: [
      { key: MANAGED_LABEL, val: MANAGED_VALUE },
      { key: ID_LABEL, val: id },
      { key: KIND_LABEL, val: kind },
    ],
  };
}
