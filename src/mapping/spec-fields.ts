/**
 * Fields of a Porto TContainerSpec in object-literal form, for the mapping
 * modules that each fill in part of one (MessageInitShape also admits a
 * complete message, which cannot be spread or partially built).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { TContainerSpec, TContainerSpecSchema } from "../../gen/rpc_pb.js";

export type SpecFields = Exclude<MessageInitShape<typeof TContainerSpecSchema>, TContainerSpec>;
