/**
 * The Porto view: what portod last said about every Porto container of this
 * shim (state, exit code, OOM kill, start and death times, start error),
 * kept in memory so that the status and list calls (ListPodSandbox,
 * ListContainers, PodSandboxStatus, ContainerStatus, the statuses in
 * GetContainerEvents) cost no Porto request in steady state, however many
 * pods there are. containerd's CRI store, fed by events and checked by a
 * periodic sync, is the model.
 *
 * How it stays true to portod:
 * - Seeded by one ListContainersBy of every shim container, sent once the
 *   AsyncWait subscription on `k8s-***` is registered, so no change falls
 *   between the two.
 * - A change portod reports (a state change; a death, which portod reports
 *   with the pseudo-label `exit_code`; a destroy) and a change the shim makes
 *   itself (the lifecycle handlers' {@link emitContainerEvent} calls) marks
 *   the container *dirty*. Dirty containers are fetched again at once, all of
 *   them in one ListContainersBy by name. An entry is only ever written from
 *   portod's answer, never guessed from an event, so exit codes, OOM kills and
 *   times are portod's own.
 * - An answer for a container is kept only if no change was reported for it
 *   after the request went out (a later answer, or a later change, wins).
 * - A read that touches a dirty container, or one the view has never seen,
 *   waits for a fetch sent after the read began: a call that follows a
 *   lifecycle call always sees that call's effect.
 * - Every `resyncMs` (10 s), and after a `resync` from the subscription
 *   (reconnect, overflow), every shim container is listed again and the
 *   store replaced: nothing portod no longer has outlives a period.
 * - Until seeded, while the subscription is down, and after a listing or a
 *   fetch failed, the view is *stale* and reads go to portod directly, so
 *   correctness never depends on the view.
 *
 * One view per RuntimeState ({@link portoView}); the AsyncWait subscription
 * is shared with GetContainerEvents, which takes portod's changes from here.
 */
import type { Logger } from "pino";
import { POD_PREFIX, containerPortoName, parsePortoName, podPortoName } from "../mapping/porto-names.js";
import type { PortoClient } from "../porto/client.js";
import type { PortoChangeEvent, Subscription } from "../porto/events.js";
import type { PortoFacts } from "./container-state.js";
import type { RuntimeState } from "./runtime-state.js";

/** How often everything is listed again, at most: the longest a vanished container can be served. */
export const VIEW_RESYNC_MS = 10_000;
/** More dirty containers than this are fetched with one listing of all instead of by name. */
const MAX_FETCH_BY_NAME = 128;
/** First retry of a failed listing; doubles up to the resync period. */
const RETRY_MS = 250;

export interface PortoViewOptions {
  /** The resync period; default {@link VIEW_RESYNC_MS}. */
  resyncMs?: number;
}

/** Why the view is not serving: reads then go to portod. */
export type ViewStaleness = "not seeded" | "subscription down" | "changes missed" | "portod unreachable" | "closed";

/** What the view cost, for tests and benchmarks. */
export interface ViewCounters {
  /** Listings of every shim container (seed, resync). */
  listings: number;
  /** Fetches of dirty containers by name. */
  fetches: number;
  /** Reads served by asking portod because the view was stale. */
  fallbacks: number;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (err: unknown) => void;
}

/** What one fetch saw: `names` undefined when it listed everything. */
interface FetchResult {
  names: Set<string> | undefined;
  facts: Map<string, PortoFacts>;
}

export class PortoView {
  readonly counters: ViewCounters = { listings: 0, fetches: 0, fallbacks: 0 };
  private readonly resyncMs: number;
  private readonly log: Logger;

  /** Containers portod has, by Porto name. */
  private entries = new Map<string, PortoFacts>();
  /** Names portod was seen not to have, with the resync epoch they were last read in (so they are dropped once nobody asks). */
  private absent = new Map<string, number>();
  /** Containers changed since last fetched: name -> the change's sequence number. */
  private readonly dirty = new Map<string, number>();
  /** The last change of every container changed while a request was out, so an older answer cannot overwrite it. */
  private readonly changed = new Map<string, number>();
  private seq = 0;
  private epoch = 0;
  private inFlight = 0;

  private staleness: ViewStaleness | undefined = "not seeded";
  private subscribed = false;
  private started = false;
  private closed = false;
  private sub: Subscription | undefined;
  private loop: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MS;
  private listing: Promise<void> | undefined;
  /** A listing was asked for while one was out, and must be sent after it. */
  private listAgain = false;
  private wakeWatch: (() => void) | undefined;
  private fetching = false;
  private fetchScheduled = false;
  /** Readers waiting for the next fetch to be sent. */
  private nextFetch: Deferred<FetchResult> | undefined;
  private readonly freshWaiters = new Set<() => void>();
  private readonly changeListeners = new Set<(ev: PortoChangeEvent) => void>();
  private readonly resyncListeners = new Set<() => void>();

  constructor(
    private readonly state: RuntimeState,
    private readonly porto: PortoClient,
    logger: Logger,
    options: PortoViewOptions = {},
  ) {
    this.log = logger.child({ component: "porto-view" });
    this.resyncMs = Math.max(10, options.resyncMs ?? VIEW_RESYNC_MS);
  }

  // ---- life cycle

  /** Subscribes to portod's changes and seeds the view; does nothing if started. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.loop = this.watch();
    this.timer = setInterval(() => this.requestListing(false), this.resyncMs);
    this.timer.unref();
  }

  /** Stops watching; reads go to portod from now on. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.markStale("closed");
    clearInterval(this.timer);
    this.wakeWatch?.();
    await this.sub?.close();
    await this.loop;
    await this.listing;
  }

  /** Undefined while the view serves reads; else why it does not. */
  get stale(): ViewStaleness | undefined {
    return this.staleness;
  }

  /** Resolves true once the view serves reads, false after `timeoutMs` (tests, benchmarks). */
  async whenFresh(timeoutMs = 10_000): Promise<boolean> {
    if (this.staleness === undefined) return true;
    let done!: () => void;
    const fresh = new Promise<void>((r) => (done = r));
    this.freshWaiters.add(done);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([fresh, timeout]);
    clearTimeout(timer);
    this.freshWaiters.delete(done);
    return this.staleness === undefined;
  }

  // ---- reads

  /**
   * Porto's facts about the named containers (a name Porto does not have is
   * missing from the map), from memory when the view is fresh. `mask`, a
   * Porto name mask that covers all of `names`, lets a stale view ask portod
   * with one filter instead of one per name.
   */
  async facts(names: readonly string[], mask?: string): Promise<Map<string, PortoFacts>> {
    if (this.staleness !== undefined) return this.direct(names, mask);
    const out = new Map<string, PortoFacts>();
    let pending: string[] | undefined;
    for (const name of names) {
      if (!this.dirty.has(name)) {
        const f = this.entries.get(name);
        if (f !== undefined) {
          out.set(name, f);
          continue;
        }
        if (this.absent.has(name)) {
          this.absent.set(name, this.epoch);
          continue;
        }
        // Never seen: made after the last listing, its event not in yet.
        this.markDirty(name);
      }
      (pending ??= []).push(name);
    }
    if (pending === undefined) return out;
    let fetched: FetchResult;
    try {
      fetched = await this.awaitFetch();
    } catch {
      return this.direct(names, mask);
    }
    for (const name of pending) {
      // Covered by the fetch: its answer, sent after this read began. Not covered: a fetch in
      // flight when the read began cleaned it, with an answer no change has overtaken since.
      const f = fetched.names === undefined || fetched.names.has(name) ? fetched.facts.get(name) : this.entries.get(name);
      if (f !== undefined) out.set(name, f);
    }
    return out;
  }

  // ---- changes

  /** The shim changed these containers (created, started, stopped, removed): fetch them before serving them. */
  invalidate(names: Iterable<string>): void {
    for (const name of names) this.markDirty(name);
  }

  /** The shim changed a pod and, maybe, every container in it (StopPodSandbox kills them all). */
  invalidatePod(podId: string): void {
    const pod = podPortoName(podId);
    const prefix = `${pod}/`;
    this.markDirty(pod);
    for (const map of [this.entries, this.absent]) {
      for (const name of map.keys()) if (name.startsWith(prefix)) this.markDirty(name);
    }
  }

  /** Listens to portod's changes of shim containers (state changes, deaths, destroys); returns the unsubscribe. */
  onChange(listener: (ev: PortoChangeEvent) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Called after every complete listing (changes may have been missed before it); returns the unsubscribe. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  // ---- internals

  private async direct(names: readonly string[], mask: string | undefined): Promise<Map<string, PortoFacts>> {
    this.counters.fallbacks++;
    if (names.length === 0) return new Map();
    return this.state.portoFacts(mask !== undefined && names.length > 1 ? [mask] : [...names]);
  }

  private markDirty(name: string): void {
    const s = ++this.seq;
    this.dirty.set(name, s);
    if (this.inFlight > 0) this.changed.set(name, s);
    this.scheduleFetch();
  }

  /** True when `name` changed after a request numbered `sentSeq` went out: its answer is outdated. */
  private changedSince(name: string, sentSeq: number): boolean {
    return (this.dirty.get(name) ?? 0) > sentSeq || (this.changed.get(name) ?? 0) > sentSeq;
  }

  private awaitFetch(): Promise<FetchResult> {
    if (!this.nextFetch) {
      let resolve!: (v: FetchResult) => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<FetchResult>((res, rej) => ((resolve = res), (reject = rej)));
      this.nextFetch = { promise, resolve, reject };
    }
    const p = this.nextFetch.promise;
    this.scheduleFetch();
    return p;
  }

  private scheduleFetch(): void {
    if (this.fetching || this.fetchScheduled || this.staleness !== undefined) return;
    this.fetchScheduled = true;
    // On the next turn: the changes of one burst of events go out together.
    setImmediate(() => void this.fetch());
  }

  /** Fetches every dirty container, by name (or all of them, when many are dirty). */
  private async fetch(): Promise<void> {
    this.fetchScheduled = false;
    const waiting = this.nextFetch;
    this.nextFetch = undefined;
    if (this.staleness !== undefined) {
      waiting?.reject(new Error(`the Porto view is stale: ${this.staleness}`));
      return;
    }
    if (this.dirty.size === 0 && !waiting) return;
    this.fetching = true;
    const names = [...this.dirty.keys()];
    const all = names.length > MAX_FETCH_BY_NAME;
    const sentSeq = this.seq;
    this.inFlight++;
    try {
      let facts = new Map<string, PortoFacts>();
      if (names.length > 0) {
        facts = await this.state.portoFacts(all ? undefined : names);
        this.counters.fetches++;
      }
      if (all) this.replace(facts, sentSeq);
      else this.apply(names, facts, sentSeq);
      waiting?.resolve({ names: all ? undefined : new Set(names), facts });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "cannot fetch changed containers; asking portod directly until the next listing");
      this.markStale("portod unreachable");
      waiting?.reject(err);
      this.scheduleRelist();
    } finally {
      this.requestDone();
      this.fetching = false;
      if (this.dirty.size > 0 || this.nextFetch) this.scheduleFetch();
    }
  }

  /** Writes a by-name fetch's answers: absent names are gone. */
  private apply(names: readonly string[], facts: Map<string, PortoFacts>, sentSeq: number): void {
    for (const name of names) {
      if (this.changedSince(name, sentSeq)) continue;
      this.dirty.delete(name);
      this.put(name, facts.get(name));
    }
  }

  /** Replaces the store with a listing of everything, keeping what changed after it was sent. */
  private replace(facts: Map<string, PortoFacts>, sentSeq: number): void {
    const epoch = ++this.epoch;
    const entries = new Map<string, PortoFacts>();
    const absent = new Map<string, number>();
    for (const [name, f] of facts) if (!this.changedSince(name, sentSeq)) entries.set(name, f);
    // Names known before: newer knowledge stays; otherwise gone now, remembered while still asked about.
    for (const name of new Set([...this.entries.keys(), ...this.absent.keys()])) {
      if (this.changedSince(name, sentSeq)) {
        const f = this.entries.get(name);
        if (f !== undefined) entries.set(name, f);
        else absent.set(name, this.absent.get(name)!);
      } else if (!facts.has(name)) {
        const lastRead = this.absent.get(name) ?? epoch;
        if (lastRead >= epoch - 1) absent.set(name, lastRead);
      }
    }
    this.entries = entries;
    this.absent = absent;
    for (const [name, s] of this.dirty) if (s <= sentSeq) this.dirty.delete(name);
  }

  private put(name: string, f: PortoFacts | undefined): void {
    if (f !== undefined) {
      this.entries.set(name, f);
      this.absent.delete(name);
    } else {
      this.entries.delete(name);
      this.absent.set(name, this.epoch);
    }
  }

  private requestDone(): void {
    if (--this.inFlight === 0) this.changed.clear();
  }

  /**
   * Lists everything again (seed, period, resync), one listing at a time.
   * `after`: the listing must be sent from now on (changes were missed
   * until now), so one in flight does not do.
   */
  private requestListing(after: boolean): void {
    if (this.closed || !this.subscribed) return;
    if (this.listing) {
      if (after) this.listAgain = true;
      return;
    }
    this.listing = (async () => {
      do {
        this.listAgain = false;
        await this.relist();
      } while (this.listAgain && this.subscribed && !this.closed);
    })().finally(() => (this.listing = undefined));
  }

  private async relist(): Promise<void> {
    const sentSeq = this.seq;
    this.inFlight++;
    try {
      const facts = await this.state.portoFacts();
      this.counters.listings++;
      this.replace(facts, sentSeq);
      this.retryMs = RETRY_MS;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, retryInMs: this.retryMs }, "cannot list shim containers; asking portod directly meanwhile");
      this.markStale("portod unreachable");
      this.scheduleRelist();
      return;
    } finally {
      this.requestDone();
    }
    if (this.subscribed && !this.closed && !this.listAgain) this.markFresh();
    for (const l of this.resyncListeners) {
      try {
        l();
      } catch (err) {
        this.log.error({ err: (err as Error).stack }, "resync listener failed");
      }
    }
  }

  /** A listing sooner than the period, after a failure (backing off). */
  private scheduleRelist(): void {
    const delay = this.retryMs;
    this.retryMs = Math.min(this.resyncMs, this.retryMs * 2);
    setTimeout(() => this.requestListing(false), delay).unref();
  }

  private markStale(why: ViewStaleness): void {
    if (this.staleness === undefined) this.log.info({ why }, "Porto view is stale; asking portod directly");
    this.staleness = why;
    this.nextFetch?.reject(new Error(`the Porto view is stale: ${why}`));
    this.nextFetch = undefined;
  }

  private markFresh(): void {
    if (this.staleness !== undefined && this.staleness !== "not seeded") this.log.info("Porto view is current again");
    this.staleness = undefined;
    for (const w of this.freshWaiters) w();
    if (this.dirty.size > 0) this.scheduleFetch();
  }

  /** Runs the subscription; restarts it if it ends while the view is open. */
  private async watch(): Promise<void> {
    while (!this.closed) {
      const sub = this.porto.subscribe({
        names: [`${POD_PREFIX}***`],
        logger: this.log,
        onDisconnect: () => {
          this.subscribed = false;
          this.markStale("subscription down");
        },
      });
      this.sub = sub;
      sub.ready.then(
        () => {
          if (this.closed || this.sub !== sub) return;
          this.subscribed = true;
          this.requestListing(true);
        },
        () => undefined,
      );
      try {
        for await (const ev of sub) {
          if (this.closed) break;
          if (ev.type === "resync") {
            // Registered again (or events were dropped): what happened meanwhile is unknown.
            this.subscribed = true;
            this.markStale("changes missed");
            this.requestListing(true);
          } else if (ev.type === "change") {
            this.onPortoChange(ev);
          }
        }
      } catch (err) {
        if (!this.closed) this.log.warn({ err: (err as Error).message }, "portod events ended; subscribing again");
      } finally {
        this.subscribed = false;
        await sub.close();
      }
      if (this.closed) break;
      this.markStale("subscription down");
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.wakeWatch = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wakeWatch = undefined;
    }
  }

  private onPortoChange(ev: PortoChangeEvent): void {
    // Only state changes and portod's own pseudo-labels (exit_code, start_error), never CRI labels.
    if (ev.label !== undefined && ev.label !== ev.label.toLowerCase()) return;
    if (parsePortoName(ev.name).kind === "foreign") return;
    this.markDirty(ev.name);
    for (const l of this.changeListeners) {
      try {
        l(ev);
      } catch (err) {
        this.log.error({ err: (err as Error).stack }, "change listener failed");
      }
    }
  }
}

const views = new WeakMap<RuntimeState, PortoView>();

/** The Porto view of a shim (one per RuntimeState), made on first use; {@link PortoView.start} makes it serve. */
export function portoView(deps: { state: RuntimeState; porto: PortoClient; logger: Logger }, options?: PortoViewOptions): PortoView {
  let view = views.get(deps.state);
  if (!view) views.set(deps.state, (view = new PortoView(deps.state, deps.porto, deps.logger, options)));
  return view;
}

/**
 * Porto's facts about the named containers for a status or list call: from
 * the shim's view when it has a current one, else from portod (see
 * {@link PortoView.facts}).
 */
export function currentFacts(state: RuntimeState, names: readonly string[], mask?: string): Promise<Map<string, PortoFacts>> {
  const view = views.get(state);
  if (view) return view.facts(names, mask);
  if (names.length === 0) return Promise.resolve(new Map());
  return state.portoFacts(mask !== undefined && names.length > 1 ? [mask] : [...names]);
}

/** A lifecycle call changed this pod or container (the pod's own id as `containerId` for the pod). */
export function invalidateView(state: RuntimeState, podId: string, containerId: string): void {
  const view = views.get(state);
  if (!view) return;
  if (containerId === podId) view.invalidatePod(podId);
  else view.invalidate([containerPortoName(podId, containerId)]);
}
