/**
 * The interceptor every CRI call passes through: it gives each call a request id,
 * logs one line per call at debug (method, duration, gRPC code), logs failures at
 * warn (client errors) or error (our faults), and turns every thrown value into a
 * ConnectError with a deliberate code, so that no call ever answers UNKNOWN.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { randomBytes } from "node:crypto";

/** Codes that mean the caller asked for something wrong or absent, not that we failed. */
const CALLER_CODES = new Set([
  Code.Canceled,
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.DeadlineExceeded,
]);

/**
 * Converts whatever a handler threw into a ConnectError. Errors that already
 * carry a code keep it (a PortoError brings its own via `toConnectError`); any
 * other exception is a bug of ours and becomes INTERNAL with its message.
 */
export type ErrorMapper = (err: unknown) => ConnectError | undefined;

export function callLogInterceptor(logger: Logger, mapError: ErrorMapper = () => undefined): Interceptor {
  return (next) => async (req) => {
    const requestId = randomBytes(6).toString("hex");
    const method = req.method.name;
    const started = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
    try {
      const res = await next(req);
      logger.debug({ requestId, method, ms: ms(), code: "OK" }, "cri call");
      return res;
    } catch (err) {
      const mapped = toCodedError(err, mapError);
      const entry = { requestId, method, ms: ms(), code: Code[mapped.code], err: mapped.rawMessage };
      if (CALLER_CODES.has(mapped.code)) {
        logger.warn(entry, "cri call failed");
      } else {
        logger.error({ ...entry, cause: err instanceof Error ? err.stack : String(err) }, "cri call failed");
      }
      throw mapped;
    }
  };
}

function toCodedError(err: unknown, mapError: ErrorMapper): ConnectError {
  const mapped = mapError(err);
  if (mapped) return mapped;
  if (err instanceof ConnectError) {
    return err.code === Code.Unknown ? new ConnectError(err.rawMessage, Code.Internal, err.metadata) : err;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(`internal error: ${message}`, Code.Internal);
}
