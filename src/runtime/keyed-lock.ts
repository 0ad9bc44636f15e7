/**
 * One-at-a-time sections per key (a pod or container id). kubelet may send a
 * StopContainer while a RemoveContainer of the same container is still in
 * flight, or stop a pod while one of its containers is being created; each
 * call must see the state the previous one left, never half of it.
 *
 * Callers that take several locks take a pod's before its containers', so two
 * calls can never wait for each other.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier section of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // Forget the key when nobody queued behind us, so the map does not grow forever.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
