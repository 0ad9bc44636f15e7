/**
 * A wire-faithful Porto test double: a unix-socket server speaking portod's
 * protocol, for tests of the shim without a real portod. See README.md for
 * what it models and what it does not.
 */
export { startPortoDouble, DOUBLE_VERSION } from "./server.js";
export type { PortoDouble, PortoDoubleOptions, DoubleState } from "./server.js";
export type { ImageSeed } from "./images.js";
export type { Container, State } from "./container.js";
export { setUsage, usageOf } from "./usage.js";
export type { Usage } from "./usage.js";
