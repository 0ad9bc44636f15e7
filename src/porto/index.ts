/**
 * The Porto client: what CRI handlers import. Lower layers (connection,
 * framing) are exported for tests and tools that need them.
 */

export { PortoClient, DEFAULT_TIMEOUT_MS, DEFAULT_DISK_TIMEOUT_MS } from "./client.js";
export type { GetValue, PortoCallOptions, PortoClientOptions, PullImageRequest } from "./client.js";
export {
  PortoError,
  errorCodeName,
  grpcCodeOf,
  isPortoError,
  readEnumField,
  responseError,
  responseErrorCode,
  toConnectError,
} from "./errors.js";
export { subscribe } from "./events.js";
export type {
  PortoChangeEvent,
  PortoEvent,
  PortoResyncEvent,
  PortoTimeoutEvent,
  SubscribeOptions,
  Subscription,
} from "./events.js";
export { DEFAULT_SOCKET_PATH, PortoPool } from "./pool.js";
export type { PoolCallOptions, PoolOptions, PortoTransport } from "./pool.js";
export { PortoConnection } from "./connection.js";
export type { CallOptions, ConnectionOptions } from "./connection.js";
export { PortoSession } from "./session.js";
export type { SessionOptions } from "./session.js";
export { isReadOnlyMethod, requestMethod } from "./request.js";
