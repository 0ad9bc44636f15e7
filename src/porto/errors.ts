/**
 * Porto errors: what portod answered (or what the socket did), kept with its
 * raw number, and the one table that turns it into a gRPC code for kubelet.
 */

import { Code, ConnectError } from "@connectrpc/connect";
import type { DescField, DescMessage, MessageShape } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { EError, TContainerResponseSchema } from "../../gen/rpc_pb.js";
import type { TContainerResponse } from "../../gen/rpc_pb.js";

/** Name of a Porto error code: the `EError` name, or `E<number>` for codes newer than our rpc.proto. */
export function errorCodeName(code: number): string {
  const name = (EError as unknown as Record<number, string | undefined>)[code];
  return name ?? `E${code}`;
}

/** A failed Porto call: an error reply from portod, or a socket failure expressed in Porto's own codes. */
export class PortoError extends Error {
  override name = "PortoError";
  /** Raw numeric `EError`, including numbers our copy of rpc.proto does not know. */
  readonly code: number;
  /** `EError` name, or `E<number>` for an unknown code. */
  readonly codeName: string;
  /** portod's `errorMsg` (or our description of a socket failure). */
  readonly portoMessage: string;
  /** The request field that failed (`create`, `ListContainersBy`, ...), when known. */
  readonly method: string | undefined;

  constructor(code: number, portoMessage: string, options?: { method?: string; cause?: unknown }) {
    const codeName = errorCodeName(code);
    const where = options?.method ? `${options.method}: ` : "";
    super(`${where}${codeName}${portoMessage ? `: ${portoMessage}` : ""}`, { cause: options?.cause });
    this.code = code;
    this.codeName = codeName;
    this.portoMessage = portoMessage;
    this.method = options?.method;
  }
}

/** True when `err` is a PortoError, and (if codes are given) carries one of them. */
export function isPortoError(err: unknown, ...codes: number[]): err is PortoError {
  return err instanceof PortoError && (codes.length === 0 || codes.includes(err.code));
}

/**
 * Reads a proto2 closed-enum field, including a value our schema does not
 * know: protobuf-es leaves such a field unset (so it reads as its default) and
 * keeps the varint in the message's unknown fields. Without this an error code
 * added to portod after our rpc.proto would read as `LostError`.
 */
export function readEnumField<Desc extends DescMessage>(
  message: MessageShape<Desc>,
  field: DescField,
): number {
  const unknown = message.$unknown;
  if (unknown) {
    // The last occurrence wins, as it would for a known value.
    for (let i = unknown.length - 1; i >= 0; i--) {
      const u = unknown[i];
      if (u.no === field.number && u.wireType === WireType.Varint) {
        return new BinaryReader(u.data).int32();
      }
    }
  }
  return (message as Record<string, unknown>)[field.localName] as number;
}

/**
 * The error code of a reply. `error` is proto2 with default `LostError`: a
 * reply without it is reported as lost, exactly as Porto's own clients do.
 */
export function responseErrorCode(rsp: TContainerResponse): number {
  return readEnumField(rsp, TContainerResponseSchema.field.error);
}

/** The PortoError a reply stands for, or undefined when it reports success. */
export function responseError(rsp: TContainerResponse, method?: string): PortoError | undefined {
  const code = responseErrorCode(rsp);
  if (code === EError.Success) return undefined;
  return new PortoError(code, rsp.errorMsg, { method });
}

/**
 * EError → gRPC code, chosen on purpose. Codes not listed are Internal: they
 * mean portod or the shim went wrong in a way a caller cannot fix by retrying
 * or changing the request, and Unknown would hide that it is a bug.
 */
const GRPC_CODES: ReadonlyMap<number, Code> = new Map<number, Code>([
  // The thing named does not exist: kubelet treats NotFound as "already gone".
  [EError.ContainerDoesNotExist, Code.NotFound],
  [EError.VolumeNotFound, Code.NotFound],
  [EError.DockerImageNotFound, Code.NotFound],
  [EError.LayerNotFound, Code.NotFound],
  [EError.LabelNotFound, Code.NotFound],
  [EError.NotFound, Code.NotFound],
  // Creating something that is already there.
  [EError.ContainerAlreadyExists, Code.AlreadyExists],
  [EError.VolumeAlreadyExists, Code.AlreadyExists],
  [EError.LayerAlreadyExists, Code.AlreadyExists],
  // The request itself is wrong; repeating it unchanged cannot succeed.
  [EError.InvalidValue, Code.InvalidArgument],
  [EError.InvalidProperty, Code.InvalidArgument],
  [EError.InvalidLabel, Code.InvalidArgument],
  [EError.InvalidPath, Code.InvalidArgument],
  [EError.InvalidCommand, Code.InvalidArgument],
  [EError.InvalidData, Code.InvalidArgument],
  [EError.InvalidNetworkAddress, Code.InvalidArgument],
  [EError.InvalidFilesystem, Code.InvalidArgument],
  // Valid request, wrong moment: the object is not in a state that allows it.
  [EError.InvalidState, Code.FailedPrecondition],
  [EError.VolumeNotLinked, Code.FailedPrecondition],
  [EError.VolumeAlreadyLinked, Code.FailedPrecondition],
  [EError.VolumeNotReady, Code.FailedPrecondition],
  // portod unreachable, busy, reloading or frozen: transient, a retry may succeed.
  [EError.SocketError, Code.Unavailable],
  [EError.SocketUnavailable, Code.Unavailable],
  [EError.Busy, Code.Unavailable],
  [EError.PortodReloaded, Code.Unavailable],
  [EError.PortoFrozen, Code.Unavailable],
  // Out of disk, memory, ids or another limited resource.
  [EError.NoSpace, Code.ResourceExhausted],
  [EError.ResourceNotAvailable, Code.ResourceExhausted],
  // Our deadline passed before portod answered.
  [EError.SocketTimeout, Code.DeadlineExceeded],
  // portod refused the shim's credentials for this object.
  [EError.Permission, Code.PermissionDenied],
  // This portod (its build or config) lacks the feature or the request type.
  [EError.NotSupported, Code.Unimplemented],
  [EError.InvalidMethod, Code.Unimplemented],
  // Spelled out so nobody "fixes" them to Unknown: these are faults, not the caller's problem.
  [EError.Unknown, Code.Internal],
  [EError.LostError, Code.Internal],
]);

/** The gRPC code for a Porto error code (Internal for anything not mapped on purpose). */
export function grpcCodeOf(portoCode: number): Code {
  return GRPC_CODES.get(portoCode) ?? Code.Internal;
}

/**
 * Turns whatever a Porto call threw into a ConnectError for a CRI handler:
 * PortoErrors by the table above, aborts as Canceled, anything else Internal.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof PortoError) {
    return new ConnectError(err.message, grpcCodeOf(err.code), undefined, undefined, err);
  }
  if (err instanceof Error && err.name === "AbortError") {
    return new ConnectError(err.message, Code.Canceled, undefined, undefined, err);
  }
  return ConnectError.from(err, Code.Internal);
}
