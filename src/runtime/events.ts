/**
 * Container lifecycle events for GetContainerEvents (kubelet's evented PLEG).
 *
 * Two sources feed one ordered queue per shim:
 * - the shim's own calls: the lifecycle handlers call {@link emitContainerEvent}
 *   once a create, start, stop or remove has happened (pods too, with the pod's
 *   id as container id, as containerd does: kubelet drops its cache of a pod on
 *   the pod's DELETED event);
 * - portod's AsyncWait on every `k8s-***` container, for what happens without
 *   a call: a container that exits or is killed by the OOM killer (portod
 *   reports a death as a pushed label event `exit_code`). The subscription is
 *   the Porto view's (porto-view.ts), shared with the status and list calls.
 * Both can report the same transition (StopContainer kills, portod pushes the
 * death): the last event sent for each container decides, so each of
 * CREATED, STARTED, STOPPED, DELETED goes out once per container, in order.
 *
 * Each event carries the pod's status and the statuses of all its containers,
 * built when the event is sent from the Porto view (events queued together
 * share at most one Porto request, for what changed since the view last
 * looked). Nothing is done while nobody listens: the bus follows the view's
 * changes from the first subscriber to the last.
 *
 * A subscriber that does not keep up is cut off (its stream ends with
 * ResourceExhausted once `maxBuffered` events wait for it) instead of holding
 * events, and memory, for everyone. kubelet then relists and subscribes again.
 * When portod's connection drops, changes may have been missed: after every
 * complete listing of the view the shim compares what it last sent with
 * portod's current state and sends what changed (resync).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ContainerEventResponseSchema, ContainerEventType, ContainerState } from "../../gen/runtime/v1/api_pb.js";
import type { ContainerEventResponse } from "../../gen/runtime/v1/api_pb.js";
import { containerPortoName, parsePortoName, podPortoName } from "../mapping/porto-names.js";
import type { PortoClient } from "../porto/client.js";
import type { PortoChangeEvent } from "../porto/events.js";
import { containerFacts } from "./container-state.js";
import type { PortoFacts } from "./container-state.js";
import { invalidateView, portoView } from "./porto-view.js";
import type { PortoView } from "./porto-view.js";
import { nowNs } from "./records.js";
import type { PodEntry, RuntimeState } from "./runtime-state.js";
import { containerStatusOf, podSandboxStatusOf } from "./views.js";

/** What a lifecycle handler reports. */
export interface ContainerEvent {
  type: ContainerEventType;
  podId: string;
  /** The container's id; the pod's own id for events of the pod itself. */
  containerId: string;
  /** The pod as it was, for a pod that is gone by the time the event is sent (its DELETED event). */
  pod?: PodEntry;
}

export interface EventBusOptions {
  /** Events held for one subscriber before it is cut off; default 1000. */
  maxBuffered?: number;
  /** Events built per Porto request; default 256. */
  batch?: number;
}

interface Queued extends ContainerEvent {
  atNs: bigint;
}

const buses = new WeakMap<RuntimeState, ContainerEventBus>();

/** The event bus of a shim (one per RuntimeState), made on first use. */
export function containerEvents(deps: { state: RuntimeState; porto: PortoClient; logger: Logger }, options?: EventBusOptions): ContainerEventBus {
  let bus = buses.get(deps.state);
  if (!bus) buses.set(deps.state, (bus = new ContainerEventBus(deps.state, portoView(deps), deps.logger, options)));
  return bus;
}

/**
 * Reports a lifecycle event: the Porto view fetches the object again before
 * serving it, and GetContainerEvents subscribers, if any, get the event.
 * Never throws, never waits.
 */
export function emitContainerEvent(state: RuntimeState, event: ContainerEvent): void {
  invalidateView(state, event.podId, event.containerId);
  buses.get(state)?.emit(event);
}

/**
 * The event portod's report implies, given the last event sent for the
 * container: at most one step forward, never back (a restart under the same
 * name is a new CRI container). A death seen while only CREATED was sent
 * means the start was missed: both are due.
 */
export function portoTransition(last: ContainerEventType | undefined, portoState: string): ContainerEventType[] {
  const { CONTAINER_CREATED_EVENT: CREATED, CONTAINER_STARTED_EVENT: STARTED, CONTAINER_STOPPED_EVENT: STOPPED } = ContainerEventType;
  switch (portoState) {
    case "running":
      return last === CREATED ? [STARTED] : [];
    case "dead":
      return last === CREATED ? [STARTED, STOPPED] : last === STARTED ? [STOPPED] : [];
    case "stopped": // stopped by portod after running (its stop resets a dead container too)
    case "destroyed": // removed behind the shim's back
      return last === STARTED ? [STOPPED] : [];
    default:
      return [];
  }
}

/** The last event a subscriber could have been sent for a container in this CRI state. */
function eventOfState(state: ContainerState): ContainerEventType {
  switch (state) {
    case ContainerState.CONTAINER_CREATED:
      return ContainerEventType.CONTAINER_CREATED_EVENT;
    case ContainerState.CONTAINER_RUNNING:
      return ContainerEventType.CONTAINER_STARTED_EVENT;
    default:
      return ContainerEventType.CONTAINER_STOPPED_EVENT;
  }
}

export interface EventSubscription extends AsyncIterable<ContainerEventResponse> {
  /** Ends the stream (the iteration finishes after what is already queued). */
  close(): void;
}

class Subscriber implements EventSubscription {
  private readonly queue: ContainerEventResponse[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: ConnectError | undefined;

  constructor(
    private readonly max: number,
    private readonly onClose: (s: Subscriber) => void,
  ) {}

  /** False when this subscriber was cut off. */
  deliver(ev: ContainerEventResponse): boolean {
    if (this.ended) return false;
    if (this.queue.length >= this.max) {
      this.fail(
        new ConnectError(
          `container events: the subscriber fell ${this.max} events behind and was cut off; relist and subscribe again`,
          Code.ResourceExhausted,
        ),
      );
      return false;
    }
    this.queue.push(ev);
    this.wake?.();
    return true;
  }

  fail(err: ConnectError): void {
    if (this.ended) return;
    this.failure = err;
    // What is queued is dropped: the stream ends with the error at once.
    this.queue.length = 0;
    this.close();
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake?.();
    this.onClose(this);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ContainerEventResponse> {
    try {
      for (;;) {
        const ev = this.queue.shift();
        if (ev) {
          yield ev;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.ended) return;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } finally {
      this.close();
    }
  }
}

export class ContainerEventBus {
  private readonly subscribers = new Set<Subscriber>();
  /** The last event sent per container or pod id (shim emissions count at once). */
  private readonly last = new Map<string, ContainerEventType>();
  private readonly pending: Queued[] = [];
  private draining = false;
  /** Stops following the view's changes and listings. */
  private detach: (() => void) | undefined;
  /** portod's changes that came while the first states were read; handled after them. */
  private held: PortoChangeEvent[] | undefined;
  /** The seed in progress. */
  private watching: Promise<void> = Promise.resolve();
  /** Bumped whenever watching starts or stops, so a stale seed is dropped. */
  private generation = 0;
  private readonly maxBuffered: number;
  private readonly batch: number;
  private readonly log: Logger;

  constructor(
    private readonly state: RuntimeState,
    private readonly view: PortoView,
    logger: Logger,
    options: EventBusOptions = {},
  ) {
    this.log = logger.child({ component: "container-events" });
    this.maxBuffered = Math.max(1, options.maxBuffered ?? 1000);
    this.batch = Math.max(1, options.batch ?? 256);
  }

  /** A new stream of events, from now on. */
  subscribe(): EventSubscription {
    const sub = new Subscriber(this.maxBuffered, (s) => this.unsubscribe(s));
    this.subscribers.add(sub);
    if (this.subscribers.size === 1) this.startWatching();
    return sub;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  emit(event: ContainerEvent): void {
    if (this.subscribers.size === 0) return;
    if (!this.advance(event.containerId, event.type)) return;
    this.enqueue(event);
  }

  /** Ends every stream (shutdown); subscribers see the end of the stream. */
  async close(): Promise<void> {
    for (const s of [...this.subscribers]) s.close();
    await this.watching;
  }

  // ---- ordering and dedup

  /** Records `type` as sent for `id`; false when it is not a step forward (already sent). */
  private advance(id: string, type: ContainerEventType): boolean {
    const last = this.last.get(id);
    if (last !== undefined && type <= last) return false;
    if (type === ContainerEventType.CONTAINER_DELETED_EVENT) this.last.delete(id);
    else this.last.set(id, type);
    return true;
  }

  private enqueue(event: ContainerEvent): void {
    this.pending.push({ ...event, atNs: nowNs() });
    if (!this.draining) void this.drain();
  }

  // ---- building and delivering

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.length > 0 && this.subscribers.size > 0) {
        const batch = this.pending.splice(0, this.batch);
        let responses: ContainerEventResponse[];
        try {
          responses = await this.build(batch);
        } catch (err) {
          // Without portod the statuses cannot be built: subscribers relist rather than get half an event.
          this.log.warn({ err: (err as Error).message }, "cannot build container events; ending the streams");
          this.failAll(new ConnectError(`container events: cannot read container states: ${(err as Error).message}`, Code.Unavailable));
          break;
        }
        for (const r of responses) for (const s of [...this.subscribers]) s.deliver(r);
      }
    } finally {
      this.draining = false;
      if (this.subscribers.size === 0) this.pending.length = 0;
    }
  }

  private async build(batch: Queued[]): Promise<ContainerEventResponse[]> {
    const pods = new Map<string, PodEntry | undefined>();
    for (const e of batch) if (!pods.has(e.podId)) pods.set(e.podId, this.state.pod(e.podId) ?? e.pod);
    const names: string[] = [];
    for (const podId of pods.keys()) {
      names.push(podPortoName(podId));
      for (const c of this.state.listContainers(podId)) names.push(containerPortoName(podId, c.record.id));
    }
    const facts = await this.view.facts(names);
    return batch.map((e) => this.response(e, pods.get(e.podId), facts));
  }

  private response(e: Queued, pod: PodEntry | undefined, facts: Map<string, PortoFacts>): ContainerEventResponse {
    const containers = pod ? this.state.listContainers(e.podId) : [];
    return create(ContainerEventResponseSchema, {
      containerId: e.containerId,
      containerEventType: e.type,
      createdAt: e.atNs,
      podSandboxStatus: pod ? podSandboxStatusOf(pod, facts.get(podPortoName(e.podId))) : undefined,
      containersStatuses: containers.map((c) => containerStatusOf(c, facts.get(containerPortoName(e.podId, c.record.id)))),
    });
  }

  private failAll(err: ConnectError): void {
    for (const s of [...this.subscribers]) s.fail(err);
  }

  private unsubscribe(s: Subscriber): void {
    if (!this.subscribers.delete(s) || this.subscribers.size > 0) return;
    // Nobody listens: stop following portod and forget what was sent; the next subscriber starts afresh.
    this.generation++;
    this.detach?.();
    this.detach = undefined;
    this.held = undefined;
    this.last.clear();
    this.pending.length = 0;
  }

  // ---- portod

  /** Facts of every visible container, from the view. */
  private async allFacts(): Promise<Map<string, PortoFacts>> {
    return this.view.facts(this.state.listContainers().map((c) => containerPortoName(c.record.podId, c.record.id)));
  }

  /**
   * What every container stands at, as the last event sent. portod's changes
   * are followed from before it is read, so a death in between is still
   * reported. Ids the shim already emitted for keep their newer event.
   */
  private async seed(): Promise<void> {
    const facts = await this.allFacts();
    for (const c of this.state.listContainers()) {
      if (this.last.has(c.record.id)) continue;
      const f = facts.get(containerPortoName(c.record.podId, c.record.id));
      this.last.set(c.record.id, eventOfState(containerFacts(c.record, f).state));
    }
  }

  /** After the view listed everything (changes may have been missed): what portod says now, against what was last sent. */
  private async resync(): Promise<void> {
    const facts = await this.allFacts();
    for (const c of this.state.listContainers()) {
      const { podId, id } = c.record;
      const now = eventOfState(containerFacts(c.record, facts.get(containerPortoName(podId, id))).state);
      const last = this.last.get(id);
      if (last === undefined) {
        this.last.set(id, now);
        continue;
      }
      if (now === ContainerEventType.CONTAINER_STOPPED_EVENT && last === ContainerEventType.CONTAINER_CREATED_EVENT)
        this.emit({ type: ContainerEventType.CONTAINER_STARTED_EVENT, podId, containerId: id });
      this.emit({ type: now, podId, containerId: id }); // dropped unless it is a step forward
    }
  }

  private startWatching(): void {
    const gen = ++this.generation;
    this.held = [];
    const offChange = this.view.onChange((ev) => {
      if (gen !== this.generation) return;
      if (this.held) this.held.push(ev);
      else this.onPorto(ev);
    });
    const offResync = this.view.onResync(() => {
      if (gen !== this.generation || this.held) return; // the seed reads the listing anyway
      this.resync().catch((err: unknown) => {
        this.failAll(new ConnectError(`container events: cannot resync with portod: ${(err as Error).message}`, Code.Unavailable));
      });
    });
    this.detach = () => {
      offChange();
      offResync();
    };
    this.view.start();
    this.watching = this.seed().then(
      () => {
        if (gen !== this.generation) return;
        const held = this.held ?? [];
        this.held = undefined;
        for (const ev of held) this.onPorto(ev);
      },
      (err: unknown) => {
        if (gen !== this.generation) return;
        this.log.warn({ err: (err as Error).message }, "cannot read container states for events");
        this.failAll(new ConnectError(`container events: cannot read container states: ${(err as Error).message}`, Code.Unavailable));
      },
    );
  }

  private onPorto(ev: PortoChangeEvent): void {
    const parsed = parsePortoName(ev.name);
    if (parsed.kind !== "container") return;
    const record = this.state.containers.get(parsed.containerId);
    if (!record || record.podId !== parsed.podId) return;
    for (const type of portoTransition(this.last.get(parsed.containerId), ev.state)) {
      this.emit({ type, podId: parsed.podId, containerId: parsed.containerId });
    }
  }
}
