import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EError, TContainerRequestSchema, TContainerResponseSchema } from "../../gen/rpc_pb.js";
import {
  PortoError,
  errorCodeName,
  grpcCodeOf,
  isPortoError,
  responseError,
  responseErrorCode,
  toConnectError,
} from "../../src/porto/errors.js";
import { isReadOnlyMethod, requestMethod } from "../../src/porto/request.js";

test("every deliberately mapped EError has its gRPC code", () => {
  const expected: [EError, Code][] = [
    [EError.ContainerDoesNotExist, Code.NotFound],
    [EError.VolumeNotFound, Code.NotFound],
    [EError.DockerImageNotFound, Code.NotFound],
    [EError.LayerNotFound, Code.NotFound],
    [EError.LabelNotFound, Code.NotFound],
    [EError.NotFound, Code.NotFound],
    [EError.ContainerAlreadyExists, Code.AlreadyExists],
    [EError.VolumeAlreadyExists, Code.AlreadyExists],
    [EError.LayerAlreadyExists, Code.AlreadyExists],
    [EError.InvalidValue, Code.InvalidArgument],
    [EError.InvalidProperty, Code.InvalidArgument],
    [EError.InvalidLabel, Code.InvalidArgument],
    [EError.InvalidPath, Code.InvalidArgument],
    [EError.InvalidCommand, Code.InvalidArgument],
    [EError.InvalidData, Code.InvalidArgument],
    [EError.InvalidNetworkAddress, Code.InvalidArgument],
    [EError.InvalidFilesystem, Code.InvalidArgument],
    [EError.InvalidState, Code.FailedPrecondition],
    [EError.VolumeNotLinked, Code.FailedPrecondition],
    [EError.VolumeAlreadyLinked, Code.FailedPrecondition],
    [EError.VolumeNotReady, Code.FailedPrecondition],
    [EError.SocketError, Code.Unavailable],
    [EError.SocketUnavailable, Code.Unavailable],
    [EError.Busy, Code.Unavailable],
    [EError.PortodReloaded, Code.Unavailable],
    [EError.PortoFrozen, Code.Unavailable],
    [EError.NoSpace, Code.ResourceExhausted],
    [EError.ResourceNotAvailable, Code.ResourceExhausted],
    [EError.SocketTimeout, Code.DeadlineExceeded],
    [EError.Permission, Code.PermissionDenied],
    [EError.NotSupported, Code.Unimplemented],
    [EError.InvalidMethod, Code.Unimplemented],
  ];
  for (const [porto, grpc] of expected) {
    assert.equal(grpcCodeOf(porto), grpc, `${EError[porto]} → ${Code[grpc]}`);
    assert.equal(toConnectError(new PortoError(porto, "x")).code, grpc, `toConnectError(${EError[porto]})`);
  }
});

test("Unknown, LostError, unlisted and unknown codes are Internal, never Unknown", () => {
  for (const code of [EError.Unknown, EError.LostError, EError.HelperError, EError.NoValue, EError.Taint, EError.Queued, 9999]) {
    assert.equal(grpcCodeOf(code), Code.Internal, `code ${code}`);
  }
  for (const name of Object.keys(EError).filter((k) => Number.isNaN(Number(k)))) {
    assert.notEqual(grpcCodeOf(EError[name as keyof typeof EError]), Code.Unknown, name);
  }
});

test("PortoError keeps the raw number, its name and portod's message", () => {
  const known = new PortoError(EError.ContainerDoesNotExist, "container a not found", { method: "start" });
  assert.equal(known.code, 4);
  assert.equal(known.codeName, "ContainerDoesNotExist");
  assert.equal(known.portoMessage, "container a not found");
  assert.equal(known.method, "start");
  assert.match(known.message, /start: ContainerDoesNotExist: container a not found/);
  const unknown = new PortoError(9999, "from the future");
  assert.equal(unknown.code, 9999);
  assert.equal(unknown.codeName, "E9999");
  assert.equal(errorCodeName(505), "PortodReloaded");
  assert.ok(isPortoError(known));
  assert.ok(isPortoError(known, EError.VolumeNotFound, EError.ContainerDoesNotExist));
  assert.ok(!isPortoError(known, EError.VolumeNotFound));
  assert.ok(!isPortoError(new Error("x")));
});

test("an error code our rpc.proto lacks is read from the unknown fields", () => {
  // error = 9999 (field 1, varint), errorMsg = "new" (field 2)
  const rsp = fromBinary(TContainerResponseSchema, Uint8Array.from([0x08, 0x8f, 0x4e, 0x12, 3, 0x6e, 0x65, 0x77]));
  assert.equal(rsp.error, EError.LostError, "protobuf-es leaves the closed enum field unset");
  assert.equal(responseErrorCode(rsp), 9999);
  const err = responseError(rsp, "version");
  assert.ok(err);
  assert.equal(err.code, 9999);
  assert.equal(err.codeName, "E9999");
  assert.equal(err.portoMessage, "new");
});

test("an explicit Success is success; an absent error is LostError as proto2's default says", () => {
  const ok = fromBinary(TContainerResponseSchema, Uint8Array.from([0x08, 0x00]));
  assert.equal(responseErrorCode(ok), EError.Success);
  assert.equal(responseError(ok), undefined);
  const bare = fromBinary(TContainerResponseSchema, new Uint8Array());
  assert.equal(responseErrorCode(bare), EError.LostError);
  assert.equal(responseError(bare)?.code, EError.LostError);
});

test("toConnectError: PortoError by table with cause, abort is Canceled, others Internal", () => {
  const perr = new PortoError(EError.VolumeNotFound, "no /x");
  const cerr = toConnectError(perr);
  assert.equal(cerr.code, Code.NotFound);
  assert.equal(cerr.cause, perr);
  assert.match(cerr.rawMessage, /VolumeNotFound: no \/x/);
  const abort = new DOMException("stop", "AbortError");
  assert.equal(toConnectError(abort).code, Code.Canceled);
  assert.equal(toConnectError(new Error("boom")).code, Code.Internal);
  const already = new ConnectError("x", Code.Aborted);
  assert.equal(toConnectError(already), already);
});

test("requests are named by their set field; only read-only ones may be repeated", () => {
  assert.equal(requestMethod(create(TContainerRequestSchema, { ListContainersBy: {} })), "ListContainersBy");
  assert.equal(requestMethod(create(TContainerRequestSchema, { pullDockerImage: { name: "x" } })), "pullDockerImage");
  assert.equal(requestMethod(create(TContainerRequestSchema, {})), "empty");
  for (const m of ["version", "list", "get", "getProperty", "ListContainersBy", "listVolumes", "GetVolume",
    "dockerImageStatus", "listDockerImages", "GetSystem", "FindLabel", "propertyList"]) {
    assert.ok(isReadOnlyMethod(m), m);
  }
  for (const m of ["create", "createWeak", "destroy", "start", "stop", "kill", "setProperty", "SetLabel", "IncLabel",
    "CreateFromSpec", "UpdateFromSpec", "pullDockerImage", "removeDockerImage", "createVolume", "NewVolume",
    "linkVolume", "unlinkVolume", "AsyncWait", "wait"]) {
    assert.ok(!isReadOnlyMethod(m), m);
  }
});
