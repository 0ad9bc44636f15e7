/** Shared helpers for the mapping tests: CRI messages from plain objects, and error assertions. */
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContainerConfigSchema, LinuxContainerSecurityContextSchema, PodSandboxConfigSchema } from "../../gen/runtime/v1/api_pb.js";
import type { ImageRuntimeConfig } from "../../src/mapping/image-runtime.js";

export const pod = (init: MessageInitShape<typeof PodSandboxConfigSchema> = {}) => create(PodSandboxConfigSchema, init);
export const ctr = (init: MessageInitShape<typeof ContainerConfigSchema> = {}) => create(ContainerConfigSchema, init);
export const secctx = (init: MessageInitShape<typeof LinuxContainerSecurityContextSchema> = {}) =>
  create(LinuxContainerSecurityContextSchema, init);

export function img(init: Partial<ImageRuntimeConfig> = {}): ImageRuntimeConfig {
  return { entrypoint: [], cmd: [], env: [], workingDir: "", user: "", stopSignal: "", ...init };
}

export const bytes = (s: string) => new TextEncoder().encode(s);

/** Asserts `fn` throws a ConnectError with `code` whose message contains `fragment` (the field name). */
export function throwsCode(fn: () => unknown, code: Code, fragment: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConnectError, `not a ConnectError: ${String(e)}`);
    assert.equal(e.code, code, `code ${Code[e.code]}, message: ${e.rawMessage}`);
    assert.ok(e.rawMessage.includes(fragment), `"${e.rawMessage}" lacks "${fragment}"`);
    return true;
  });
}
