/**
 * GetContainerEvents through the CRI server against the Porto double: the
 * lifecycle's own events, deaths portod reports, ordering and dedup, several
 * subscribers, a slow subscriber cut off, and a resync after missed changes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContainerEventType, ContainerState, PodSandboxState } from "../../../gen/runtime/v1/api_pb.js";
import type { ContainerEventResponse } from "../../../gen/runtime/v1/api_pb.js";
import type { PortoClient, PortoEvent, Subscription } from "../../../src/porto/index.js";
import { containerEvents, emitContainerEvent, portoTransition } from "../../../src/runtime/events.js";
import { ctrConfig, podConfig, startShim } from "./harness.js";
import type { Shim } from "./harness.js";

const { CONTAINER_CREATED_EVENT: CREATED, CONTAINER_STARTED_EVENT: STARTED, CONTAINER_STOPPED_EVENT: STOPPED, CONTAINER_DELETED_EVENT: DELETED } =
  ContainerEventType;

/** portod's events as the shim sees them; `deaf` swallows them (missed changes), `inject` adds some. */
const control = { deaf: false, inject: (_e: PortoEvent) => {} };

function controlled(porto: PortoClient): PortoClient {
  return new Proxy(porto, {
    get(target, prop, receiver) {
      if (prop !== "subscribe") return Reflect.get(target, prop, receiver);
      return (options: Parameters<PortoClient["subscribe"]>[0]): Subscription => {
        const real = target.subscribe(options);
        const extra: PortoEvent[] = [];
        let wake: (() => void) | undefined;
        control.inject = (e) => {
          extra.push(e);
          wake?.();
        };
        const it = real[Symbol.asyncIterator]();
        let pending: Promise<IteratorResult<PortoEvent>> | undefined;
        return {
          ready: real.ready,
          close: () => real.close(),
          async *[Symbol.asyncIterator]() {
            for (;;) {
              if (extra.length > 0) {
                yield extra.shift()!;
                continue;
              }
              pending ??= it.next();
              const r = await Promise.race([pending, new Promise<"extra">((res) => (wake = () => res("extra")))]);
              if (r === "extra") continue;
              pending = undefined;
              if (r.done) return;
              if (!control.deaf) yield r.value;
            }
          },
        };
      };
    },
  });
}

let shim: Shim;

before(async () => {
  shim = await startShim({ wrapPorto: controlled });
});
after(async () => {
  await shim.close();
});

/** A GetContainerEvents stream read into an array as events come. */
function listen() {
  const abort = new AbortController();
  const events: ContainerEventResponse[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const e of shim.rt.getContainerEvents({}, { signal: abort.signal })) events.push(e);
    } catch (err) {
      error = err;
    }
  })();
  return {
    events,
    get error() {
      return error;
    },
    done,
    stop: () => abort.abort(),
    /** Waits until `n` events arrived. */
    async count(n: number, ms = 5000) {
      const end = Date.now() + ms;
      while (events.length < n) {
        if (Date.now() > end) throw new Error(`got ${events.length} events, wanted ${n}: ${summary(events)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return events;
    },
  };
}

const summary = (events: ContainerEventResponse[]) => events.map((e) => `${ContainerEventType[e.containerEventType]}:${e.containerId.slice(0, 6)}`).join(" ");
const kinds = (events: ContainerEventResponse[], id: string) => events.filter((e) => e.containerId === id).map((e) => e.containerEventType);

async function subscribed(): Promise<void> {
  // The stream is open once the bus counts its subscriber and has looked at portod.
  const bus = containerEvents(shim.deps);
  const end = Date.now() + 5000;
  while (bus.subscriberCount === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 100));
}

describe("GetContainerEvents", () => {
  test("a pod's and a container's life, each step once, in order, with the pod's and containers' statuses", async () => {
    const l = listen();
    await subscribed();
    const config = podConfig();
    const podId = (await shim.rt.runPodSandbox({ config })).podSandboxId;
    const id = (await shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(["sleep", "1000"]) })).containerId;
    await shim.rt.startContainer({ containerId: id });
    await shim.rt.stopContainer({ containerId: id, timeout: 0n });
    await shim.rt.removeContainer({ containerId: id });
    await shim.rt.stopPodSandbox({ podSandboxId: podId });
    await shim.rt.removePodSandbox({ podSandboxId: podId });
    await l.count(8);
    await new Promise((r) => setTimeout(r, 200)); // anything late (portod's death push) would show now
    assert.deepEqual(kinds(l.events, podId), [CREATED, STARTED, STOPPED, DELETED], summary(l.events));
    assert.deepEqual(kinds(l.events, id), [CREATED, STARTED, STOPPED, DELETED], "portod's death push adds no second STOPPED");
    const order = l.events.map((e) => `${e.containerId === podId ? "pod" : "ctr"}:${ContainerEventType[e.containerEventType]}`);
    assert.deepEqual(order, [
      "pod:CONTAINER_CREATED_EVENT",
      "pod:CONTAINER_STARTED_EVENT",
      "ctr:CONTAINER_CREATED_EVENT",
      "ctr:CONTAINER_STARTED_EVENT",
      "ctr:CONTAINER_STOPPED_EVENT",
      "ctr:CONTAINER_DELETED_EVENT",
      "pod:CONTAINER_STOPPED_EVENT",
      "pod:CONTAINER_DELETED_EVENT",
    ]);
    for (const e of l.events) {
      assert.equal(e.podSandboxStatus?.id, podId);
      assert.equal(e.podSandboxStatus?.metadata?.uid, config.metadata!.uid, "kubelet keys its cache on the pod's uid");
      assert.ok(e.createdAt > 0n);
    }
    const created = l.events.find((e) => e.containerId === id && e.containerEventType === CREATED)!;
    assert.equal(created.containersStatuses.find((s) => s.id === id)?.state, ContainerState.CONTAINER_CREATED);
    const stopped = l.events.find((e) => e.containerId === id && e.containerEventType === STOPPED)!;
    assert.equal(stopped.containersStatuses.find((s) => s.id === id)?.state, ContainerState.CONTAINER_EXITED);
    const deleted = l.events.find((e) => e.containerId === id && e.containerEventType === DELETED)!;
    assert.equal(deleted.containersStatuses.find((s) => s.id === id), undefined, "a deleted container is not among the statuses");
    const podGone = l.events.at(-1)!;
    assert.equal(podGone.podSandboxStatus?.state, PodSandboxState.SANDBOX_NOTREADY, "the removed pod's last status");
    assert.ok(l.events.every((e, i) => i === 0 || e.createdAt >= l.events[i - 1].createdAt), "timestamps in order");
    l.stop();
    await l.done;
  });

  test("a container that exits by itself is STOPPED, from portod's death report, with its exit code", async () => {
    const podId = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const l = listen();
    await subscribed();
    const id = (await shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(["sh", "-c", "sleep 0.2; exit 3"]) })).containerId;
    await shim.rt.startContainer({ containerId: id });
    await l.count(3);
    assert.deepEqual(kinds(l.events, id), [CREATED, STARTED, STOPPED]);
    const status = l.events[2].containersStatuses.find((s) => s.id === id)!;
    assert.equal(status.state, ContainerState.CONTAINER_EXITED);
    assert.equal(status.exitCode, 3);
    l.stop();
    await l.done;
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("several subscribers each get every event", async () => {
    const a = listen();
    const b = listen();
    await subscribed();
    const podId = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    await shim.rt.removePodSandbox({ podSandboxId: podId });
    await a.count(4);
    await b.count(4);
    assert.deepEqual(summary(a.events), summary(b.events));
    a.stop();
    await a.done;
    // One left: it still gets events.
    const other = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    await b.count(6);
    assert.deepEqual(kinds(b.events, other), [CREATED, STARTED]);
    b.stop();
    await b.done;
    await shim.rt.removePodSandbox({ podSandboxId: other });
  });

  test("changes missed while portod's events were lost are sent after the resync", async () => {
    const podId = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const l = listen();
    await subscribed();
    const id = (await shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(["sleep", "1000"]) })).containerId;
    await shim.rt.startContainer({ containerId: id });
    await l.count(2);
    control.deaf = true;
    shim.double.state.containers.get(`k8s-${podId}/${id}`)!.process!.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(l.events.length, 2, "the death was missed");
    control.deaf = false;
    control.inject({ type: "resync", reason: "reconnect" });
    await l.count(3);
    assert.deepEqual(kinds(l.events, id), [CREATED, STARTED, STOPPED]);
    assert.equal(l.events[2].containersStatuses.find((s) => s.id === id)?.exitCode, 137);
    l.stop();
    await l.done;
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("a client that stops reading is cut off with ResourceExhausted; the others go on", async () => {
    const bus = containerEvents(shim.deps);
    const podId = (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
    const l = listen();
    // The slow one reads its first event, then nothing: gRPC flow control stops the handler's writes,
    // and the events pile up in the shim's buffer for it until the bound.
    const abort = new AbortController();
    const slow = shim.rt.getContainerEvents({}, { signal: abort.signal })[Symbol.asyncIterator]();
    const first = slow.next();
    await subscribed();
    const fake = (n: number) => n.toString(16).padStart(64, "0");
    emitContainerEvent(shim.state, { type: CREATED, podId, containerId: fake(0) });
    await first;
    let n = 1;
    const end = Date.now() + 20_000;
    while (bus.subscriberCount > 1 && Date.now() < end) {
      for (let i = 0; i < 200; i++) emitContainerEvent(shim.state, { type: CREATED, podId, containerId: fake(n++) });
      await l.count(n, 20_000); // the reader keeps up
    }
    assert.equal(bus.subscriberCount, 1, "the slow one was dropped");
    await l.count(n, 20_000);
    let error: unknown;
    try {
      for (;;) if ((await slow.next()).done) break;
    } catch (err) {
      error = err;
    }
    assert.equal(ConnectError.from(error).code, Code.ResourceExhausted, String(error));
    assert.match(ConnectError.from(error).rawMessage, /fell 1000 events behind/);
    l.stop();
    await l.done;
    abort.abort();
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("the shim's shutdown ends the streams", async () => {
    const l = listen();
    await subscribed();
    await containerEvents(shim.deps).close();
    await l.done;
    assert.equal(l.error, undefined, "a clean end of stream");
  });
});

describe("portoTransition", () => {
  test("portod's reports move a container forward only", () => {
    const table: [ContainerEventType | undefined, string, ContainerEventType[]][] = [
      [CREATED, "running", [STARTED]],
      [STARTED, "running", []],
      [STARTED, "dead", [STOPPED]],
      [CREATED, "dead", [STARTED, STOPPED]],
      [STOPPED, "dead", []],
      [STARTED, "stopped", [STOPPED]],
      [CREATED, "stopped", []],
      [STARTED, "destroyed", [STOPPED]],
      [undefined, "dead", []],
      [STARTED, "starting", []],
      [STARTED, "meta", []],
    ];
    for (const [last, state, want] of table) {
      assert.deepEqual(portoTransition(last, state), want, `${last === undefined ? "-" : ContainerEventType[last]} + ${state}`);
    }
  });
});
