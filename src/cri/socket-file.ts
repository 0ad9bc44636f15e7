/**
 * Claiming the CRI socket path. A socket file left by a crashed run is replaced;
 * one with a live server behind it is refused, so that a second portoshim can't
 * silently steal kubelet's connection from the first.
 */
import { connect } from "node:net";
import { lstat, mkdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";

export class SocketInUseError extends Error {
  override name = "SocketInUseError";
}

/** Resolves true when something accepts connections on the unix socket at `path`. */
export function isSocketLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (live: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(live);
    };
    // A server too busy to accept within the bound still counts as live: refusing
    // to start is safer than unlinking the socket of a running instance.
    const timer = setTimeout(() => done(true), timeoutMs);
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/**
 * Makes `path` free for a new listening socket: creates its directory, removes a
 * stale socket, and refuses a live one or a file that isn't a socket.
 */
export async function claimSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new SocketInUseError(`${path} exists and is not a socket; remove it or choose another Portoshim.Socket`);
  }
  if (await isSocketLive(path)) {
    throw new SocketInUseError(`another server is listening on ${path}; is portoshim already running?`);
  }
  await unlink(path);
}
