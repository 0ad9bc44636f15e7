/**
 * Errors the double raises inside a request handler. Each carries the EError
 * code portod uses for the same misuse, so a handler can `throw` the way
 * portod's C++ returns a TError and the server turns it into `error` +
 * `errorMsg` on the reply.
 */
import { EError } from "../../gen/rpc_pb.js";

export class PortoError extends Error {
  override name = "PortoError";
  constructor(
    readonly code: EError,
    message: string,
  ) {
    super(message);
  }
}

/** Shorthand used throughout the double: `throw fail(EError.InvalidValue, "...")`. */
export function fail(code: EError, message: string): PortoError {
  return new PortoError(code, message);
}

/** Runs `fn`, returning the PortoError it throws (or undefined); rethrows anything else. */
export function attempt(fn: () => void): PortoError | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof PortoError) return e;
    throw e;
  }
}
