/**
 * Attaching to a container's main process: the part of ExecBackend that
 * depends on how the container's stdio was set up at start (see
 * container-stdio.ts), kept behind this interface.
 */
import type { StdioStreams } from "./exec-backend.js";
import type { Located } from "./locator.js";

export interface AttachBackend {
  /** Connects `io` to the main process of `target` until the client leaves or the process ends. */
  attach(target: Located, io: StdioStreams): Promise<void>;
}
