/**
 * Timers for absolute deadlines. Node fires a setTimeout longer than about
 * 24.8 days at once (with a warning), and a 0-means-none option can still
 * yield long deadlines, so long ones are re-armed in steps.
 */

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` once at `deadline` (epoch ms); returns a function that cancels it. */
export function atDeadline(deadline: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = deadline - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
