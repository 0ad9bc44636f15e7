/**
 * One pull per image at a time: concurrent PullImage calls for the same
 * image (and the same credentials) share one portod pull and its result.
 *
 * kubelet pulls an image once per pod that needs it and not yet has it, so a
 * node starting many pods of one image would otherwise start as many portod
 * pulls of it, each downloading every layer.
 *
 * A caller that gives up (its CRI call is cancelled) stops waiting; the pull
 * goes on for the others and, once it finishes, for whoever asks next, since
 * portod cannot be told to stop a pull anyway.
 */

export class PullCoordinator<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  /** Pulls in flight, by key (for tests and the log). */
  get size(): number {
    return this.inflight.size;
  }

  /**
   * Runs `start` for `key` unless a run for it is in flight, in which case
   * this call joins it. `signal` ends this caller's wait only.
   */
  run(key: string, start: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let shared = this.inflight.get(key);
    if (!shared) {
      shared = (async () => {
        try {
          return await start();
        } finally {
          this.inflight.delete(key);
        }
      })();
      this.inflight.set(key, shared);
      // Nobody may be waiting when it fails (every caller gave up): not an unhandled rejection.
      shared.catch(() => undefined);
    }
    return signal ? abandonable(shared, signal) : shared;
  }
}

function abandonable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error("the pull was abandoned"), { name: "AbortError" });
}
