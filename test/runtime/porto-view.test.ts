/**
 * The in-memory Porto view (src/runtime/porto-view.ts) through the CRI calls
 * it serves, against the Porto double behind a proxy that can lose portod's
 * events, drop connections, go away like a restarting portod and hold
 * replies back. What would break if the view were wrong: a status or list
 * call costing Porto requests in steady state, a death or a destroy nobody
 * asked for never showing, stale data served while portod's changes go
 * unseen, a call not seeing the lifecycle call before it, an older answer
 * overwriting a newer change.
 *
 * No timings are asserted: waits poll with a deadline.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ContainerState, PodSandboxState } from "../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../../src/mapping/porto-names.js";
import { PortoClient } from "../../src/porto/index.js";
import type { PortoChangeEvent } from "../../src/porto/index.js";
import type { ViewCounters } from "../../src/runtime/porto-view.js";
import { ctrConfig, eventually, podConfig, startShim } from "../cri/runtime/harness.js";
import type { Shim } from "../cri/runtime/harness.js";
import { startPortoProxy } from "./porto-proxy.js";
import type { PortoProxy } from "./porto-proxy.js";

const { CONTAINER_CREATED: CREATED, CONTAINER_RUNNING: RUNNING, CONTAINER_EXITED: EXITED, CONTAINER_UNKNOWN: UNKNOWN } = ContainerState;

/** A shim whose Porto traffic goes through a proxy; `direct` talks to the double behind the shim's back. */
interface Setup {
  shim: Shim;
  proxy: PortoProxy;
  direct: PortoClient;
  close(): Promise<void>;
}

async function setUp(viewResyncMs: number): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), "portoshim-view-"));
  let doubleSocket = "";
  const proxy = await startPortoProxy(join(dir, "portod.socket"), () => doubleSocket);
  const shim = await startShim({
    viewResyncMs,
    portoSocketPath: (p) => {
      doubleSocket = p;
      return proxy.socketPath;
    },
  });
  const direct = new PortoClient({ socketPath: shim.double.socketPath, timeoutMs: 10_000 });
  return {
    shim,
    proxy,
    direct,
    async close() {
      direct.close();
      proxy.hold = proxy.deaf = proxy.refuseEvents = false;
      proxy.release();
      await shim.close();
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const code = (c: Code) => (err: unknown) => {
  assert.equal(Code[ConnectError.from(err).code], Code[c], ConnectError.from(err).rawMessage);
  return true;
};

/** What every Porto request and the view's work cost between two points. */
function meter(s: Setup) {
  const at = { proxy: s.proxy.requestCount, double: s.shim.double.state.daemon.stats.requests, view: { ...s.shim.view.counters } };
  return () => ({
    requests: s.proxy.requestCount - at.proxy,
    doubleRequests: s.shim.double.state.daemon.stats.requests - at.double,
    view: Object.fromEntries(Object.entries(s.shim.view.counters).map(([k, v]) => [k, v - at.view[k as keyof ViewCounters]])) as unknown as ViewCounters,
  });
}

async function newPod(shim: Shim): Promise<string> {
  return (await shim.rt.runPodSandbox({ config: podConfig() })).podSandboxId;
}

async function newCtr(shim: Shim, podId: string, argv: string[], start = true): Promise<string> {
  const id = (await shim.rt.createContainer({ podSandboxId: podId, config: ctrConfig(argv) })).containerId;
  if (start) await shim.rt.startContainer({ containerId: id });
  return id;
}

async function status(shim: Shim, id: string) {
  const rsp = await shim.rt.containerStatus({ containerId: id, verbose: true });
  return { ...rsp.status!, portoState: JSON.parse(rsp.info.info).portoState as string };
}

async function listed(shim: Shim, id: string) {
  return (await shim.rt.listContainers({ filter: { id } })).containers[0]?.state;
}

/** The double's own state of a container: what portod says. */
function portoState(shim: Shim, podId: string, id?: string): string {
  const name = id === undefined ? podPortoName(podId) : containerPortoName(podId, id);
  return shim.double.state.containers.get(name)?.state ?? "absent";
}

function killProcess(shim: Shim, podId: string, id: string): void {
  shim.double.state.containers.get(containerPortoName(podId, id))!.process!.kill("SIGKILL");
}

describe("the Porto view with portod's events flowing", () => {
  let s: Setup;
  let shim: Shim;
  before(async () => {
    // No periodic resync during these tests: what the view knows comes from events and the lifecycle.
    s = await setUp(600_000);
    shim = s.shim;
  });
  after(async () => {
    await s.close();
  });

  test("steady state: list and status calls cost no Porto request and serve portod's states", async () => {
    const pods: string[] = [];
    const ctrs: { podId: string; id: string; want: ContainerState }[] = [];
    for (let i = 0; i < 3; i++) {
      const podId = await newPod(shim);
      pods.push(podId);
      ctrs.push({ podId, id: await newCtr(shim, podId, ["sleep", "1000"]), want: RUNNING });
      ctrs.push({ podId, id: await newCtr(shim, podId, ["sleep", "1000"], false), want: CREATED });
    }
    const exited = ctrs[0];
    await shim.rt.stopContainer({ containerId: exited.id, timeout: 0n });
    exited.want = EXITED;

    const readAll = async () => {
      const list = await shim.rt.listContainers({});
      for (const c of ctrs) assert.equal(list.containers.find((x) => x.id === c.id)?.state, c.want, c.id);
      const pl = await shim.rt.listPodSandbox({});
      for (const p of pods) assert.equal(pl.items.find((x) => x.id === p)?.state, PodSandboxState.SANDBOX_READY);
      await shim.rt.listPodSandbox({ filter: { state: { state: PodSandboxState.SANDBOX_READY } } });
      await shim.rt.listContainers({ filter: { podSandboxId: pods[1], state: { state: RUNNING } } });
      for (const p of pods) {
        const ps = await shim.rt.podSandboxStatus({ podSandboxId: p, verbose: true });
        assert.equal(ps.status!.state, PodSandboxState.SANDBOX_READY);
        assert.equal(ps.containersStatuses.length, 2);
      }
      for (const c of ctrs) assert.equal((await shim.rt.containerStatus({ containerId: c.id })).status!.state, c.want);
    };
    // The first reads may wait for the fetch of what the lifecycle calls changed.
    await readAll();
    assert.equal(shim.view.stale, undefined);
    const cost = meter(s);
    for (let i = 0; i < 10; i++) await readAll();
    assert.deepEqual(cost(), { requests: 0, doubleRequests: 0, view: { listings: 0, fetches: 0, fallbacks: 0 } });

    for (const p of pods) await shim.rt.removePodSandbox({ podSandboxId: p });
  });

  test("a container whose process exits by itself reads EXITED with its exit code, from the view", async () => {
    const podId = await newPod(shim);
    const id = await newCtr(shim, podId, ["sh", "-c", "sleep 0.3; exit 3"]);
    const cost = meter(s);
    const st = await eventually("EXITED", async () => {
      const st = await status(shim, id);
      return st.state === EXITED ? st : undefined;
    });
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, "Error");
    assert.ok(st.finishedAt >= st.startedAt && st.finishedAt > 0n);
    assert.equal(st.portoState, "dead");
    assert.equal(await listed(shim, id), EXITED);
    // portod's death event made the view fetch the container; nothing was read past it.
    assert.ok(cost().view.fetches >= 1);
    assert.equal(cost().view.fallbacks, 0);
    assert.equal(shim.view.stale, undefined);

    const steady = meter(s);
    assert.equal((await status(shim, id)).exitCode, 3);
    assert.equal(await listed(shim, id), EXITED);
    assert.equal(steady().requests, 0);
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("a container, and a pod, destroyed behind the shim's back read as portod says after its event", async () => {
    const podId = await newPod(shim);
    const gone = await newCtr(shim, podId, ["sleep", "1000"]);
    const kept = await newCtr(shim, podId, ["sleep", "1000"]);
    assert.equal((await status(shim, gone)).state, RUNNING);

    await s.direct.destroy(containerPortoName(podId, gone));
    const st = await eventually("the destroyed container gone", async () => {
      const st = await status(shim, gone);
      return st.portoState === "absent" ? st : undefined;
    });
    assert.equal(st.state, UNKNOWN);
    assert.equal(await listed(shim, gone), UNKNOWN);
    assert.equal((await status(shim, kept)).state, RUNNING);

    await s.direct.destroy(podPortoName(podId));
    await eventually("the destroyed pod NOTREADY", async () => {
      const ps = await shim.rt.podSandboxStatus({ podSandboxId: podId });
      return ps.status!.state === PodSandboxState.SANDBOX_NOTREADY ? ps : undefined;
    });
    const pl = await shim.rt.listPodSandbox({ filter: { id: podId } });
    assert.equal(pl.items[0].state, PodSandboxState.SANDBOX_NOTREADY);
    // The pod's destroy took its container along.
    await eventually("the pod's container gone", async () => ((await status(shim, kept)).portoState === "absent" ? true : undefined));
    assert.equal(portoState(shim, podId, kept), "absent");
    assert.equal(shim.view.counters.fallbacks, 0);
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("a read right after a lifecycle call sees that call's effect", async () => {
    for (let i = 0; i < 5; i++) {
      const podId = await newPod(shim);
      assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: podId })).status!.state, PodSandboxState.SANDBOX_READY);
      assert.equal((await shim.rt.listPodSandbox({ filter: { id: podId } })).items[0].state, PodSandboxState.SANDBOX_READY);

      const id = await newCtr(shim, podId, ["sleep", "1000"], false);
      assert.equal((await status(shim, id)).state, CREATED);
      assert.equal(await listed(shim, id), CREATED);

      await shim.rt.startContainer({ containerId: id });
      assert.equal(await listed(shim, id), RUNNING);
      assert.equal((await status(shim, id)).state, RUNNING);

      await shim.rt.stopContainer({ containerId: id, timeout: 0n });
      const st = await status(shim, id);
      assert.equal(st.state, EXITED);
      assert.equal(st.exitCode, 137);
      assert.equal(await listed(shim, id), EXITED);

      // StopPodSandbox stops every container of the pod: each reads so at once.
      const other = await newCtr(shim, podId, ["sleep", "1000"]);
      assert.equal((await status(shim, other)).state, RUNNING);
      await shim.rt.stopPodSandbox({ podSandboxId: podId });
      assert.equal((await shim.rt.podSandboxStatus({ podSandboxId: podId })).status!.state, PodSandboxState.SANDBOX_NOTREADY);
      const ps = await shim.rt.podSandboxStatus({ podSandboxId: podId });
      assert.deepEqual(
        ps.containersStatuses.map((c) => c.state),
        [EXITED, EXITED],
      );
      assert.equal(await listed(shim, other), EXITED);

      await shim.rt.removeContainer({ containerId: id });
      await assert.rejects(shim.rt.containerStatus({ containerId: id }), code(Code.NotFound));
      await shim.rt.removePodSandbox({ podSandboxId: podId });
      assert.equal((await shim.rt.listPodSandbox({ filter: { id: podId } })).items.length, 0);
    }
    assert.equal(shim.view.counters.fallbacks, 0, "all served by the view, not by asking portod while stale");
  });

  test("a read of a container the shim just changed waits for portod's answer, even with an older fetch out", async () => {
    // Through the view itself, to order things exactly: through CRI the fetch usually wins the race anyway.
    const podId = await newPod(shim);
    const id = await newCtr(shim, podId, ["sleep", "1000"]);
    const name = containerPortoName(podId, id);
    assert.equal((await shim.view.facts([name])).get(name)?.state, "running");
    s.proxy.deaf = true; // only the shim's own reports tell the view
    try {
      killProcess(shim, podId, id);
      await eventually("portod's state", async () => (portoState(shim, podId, id) === "dead" ? true : undefined));
      assert.equal((await shim.view.facts([name])).get(name)?.state, "running", "nobody told the view");
      // As a lifecycle call reports what it changed: the next read, even in the same turn, asks portod.
      shim.view.invalidate([name]);
      assert.equal((await shim.view.facts([name])).get(name)?.state, "dead");

      // A fetch out with portod's "dead", held back; meanwhile the container is started again and
      // reported, and a read begins: the held answer is older than the read, which must wait for the next.
      s.proxy.hold = true;
      shim.view.invalidate([name]);
      await eventually("the fetch's answer held", async () => (s.proxy.held > 0 ? true : undefined));
      await s.direct.stop(name);
      await s.direct.start(name);
      shim.view.invalidate([name]);
      const read = shim.view.facts([name]);
      s.proxy.release();
      assert.equal((await read).get(name)?.state, "running");
      assert.equal((await shim.view.facts([name])).get(name)?.state, "running");
    } finally {
      s.proxy.deaf = false;
      s.proxy.release();
    }
    assert.equal(shim.view.counters.fallbacks, 0);
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("an answer sent before a later change never overwrites it", async () => {
    const podId = await newPod(shim);
    const id = await newCtr(shim, podId, ["sleep", "1000"]);
    const name = containerPortoName(podId, id);
    assert.equal((await status(shim, id)).state, RUNNING);
    const deaths: PortoChangeEvent[] = [];
    const unsubscribe = shim.view.onChange((ev) => {
      if (ev.name === name && ev.state === "dead") deaths.push(ev);
    });
    const fetches = shim.view.counters.fetches;
    try {
      // A fetch goes out and portod answers "running", but the answer is held back...
      s.proxy.hold = true;
      shim.view.invalidate([name]);
      await eventually("the fetch's answer held", async () => (s.proxy.held > 0 ? true : undefined));
      // ...while the process dies and portod's event of it arrives.
      killProcess(shim, podId, id);
      await eventually("the death event", async () => (deaths.length > 0 ? true : undefined));
      assert.equal(shim.view.counters.fetches, fetches, "the fetch is still out");
      s.proxy.release();
      // The older answer arrives last: it must not make the container read running again.
      await eventually("the held fetch done", async () => (shim.view.counters.fetches > fetches ? true : undefined));
      const facts = await shim.view.facts([name]);
      assert.equal(facts.get(name)?.state, "dead");
      assert.equal(facts.get(name)?.exitCode, -9);
      const st = await status(shim, id);
      assert.equal(st.state, EXITED);
      assert.equal(st.exitCode, 137);
    } finally {
      unsubscribe();
      s.proxy.release();
    }
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });
});

describe("the Porto view when portod's events are lost", () => {
  let s: Setup;
  let shim: Shim;
  before(async () => {
    s = await setUp(300);
    shim = s.shim;
  });
  after(async () => {
    await s.close();
  });

  test("changes whose events were lost show after the next resync", async () => {
    const podId = await newPod(shim);
    const dies = await newCtr(shim, podId, ["sleep", "1000"]);
    const gone = await newCtr(shim, podId, ["sleep", "1000"]);
    assert.equal((await status(shim, dies)).state, RUNNING);
    assert.equal((await status(shim, gone)).state, RUNNING);
    s.proxy.deaf = true;
    try {
      const listings = shim.view.counters.listings;
      killProcess(shim, podId, dies);
      await s.direct.destroy(containerPortoName(podId, gone));
      await eventually("portod's states", async () => {
        const a = await status(shim, dies);
        const b = await status(shim, gone);
        return a.state === EXITED && b.portoState === "absent" ? [a, b] : undefined;
      });
      // No event came: a listing of everything found both.
      assert.ok(shim.view.counters.listings > listings);
      assert.equal((await status(shim, dies)).exitCode, 137);
      assert.equal(portoState(shim, podId, gone), "absent");
      assert.equal(await listed(shim, gone), UNKNOWN);
      assert.equal(shim.view.stale, undefined);
    } finally {
      s.proxy.deaf = false;
    }
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("while the subscription is down reads go to portod and are right; after it registers again the view serves", async () => {
    const podId = await newPod(shim);
    const dies = await newCtr(shim, podId, ["sleep", "1000"]);
    const runs = await newCtr(shim, podId, ["sleep", "1000"]);
    assert.equal((await status(shim, dies)).state, RUNNING);

    s.proxy.refuseEvents = true;
    s.proxy.dropEvents();
    await eventually("the view stale", async () => shim.view.stale);
    assert.equal(shim.view.stale, "subscription down");

    // Behind the shim's back, with nobody told: a read must still be right.
    killProcess(shim, podId, dies);
    await eventually("portod's state", async () => (portoState(shim, podId, dies) === "dead" ? true : undefined));
    const stale = meter(s);
    const st = await status(shim, dies);
    assert.equal(st.state, EXITED);
    assert.equal(st.exitCode, 137);
    assert.equal(await listed(shim, dies), EXITED);
    assert.equal((await status(shim, runs)).state, RUNNING);
    assert.equal(stale().view.fallbacks, 3);
    assert.ok(stale().requests >= 3, "each read asked portod");

    s.proxy.refuseEvents = false;
    assert.equal(await shim.view.whenFresh(), true);
    const fresh = meter(s);
    assert.equal((await status(shim, dies)).exitCode, 137);
    assert.equal(await listed(shim, dies), EXITED);
    assert.equal((await status(shim, runs)).state, RUNNING);
    const c = fresh();
    assert.equal(c.view.fallbacks, 0);
    assert.equal(c.view.fetches, 0);
    // Only the periodic listings (one request each, the last maybe still out) may have run meanwhile.
    assert.ok(c.requests <= c.view.listings + 1, `${c.requests} requests, ${c.view.listings} listings`);
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });

  test("portod restarting: no stale answer while it is away; afterwards the view has what changed meanwhile", async () => {
    const podId = await newPod(shim);
    const dies = await newCtr(shim, podId, ["sleep", "1000"]);
    const gone = await newCtr(shim, podId, ["sleep", "1000"]);
    const runs = await newCtr(shim, podId, ["sleep", "1000"]);
    for (const id of [dies, gone, runs]) assert.equal((await status(shim, id)).state, RUNNING);

    await s.proxy.down();
    await eventually("the view stale", async () => shim.view.stale);
    await assert.rejects(shim.rt.containerStatus({ containerId: runs }), code(Code.Unavailable));
    await assert.rejects(shim.rt.listContainers({}), code(Code.Unavailable));
    killProcess(shim, podId, dies);
    await s.direct.destroy(containerPortoName(podId, gone));
    await eventually("portod's state", async () => (portoState(shim, podId, dies) === "dead" ? true : undefined));
    await s.proxy.up();

    assert.equal(await shim.view.whenFresh(), true);
    const fresh = meter(s);
    const st = await status(shim, dies);
    assert.equal(st.state, EXITED);
    assert.equal(st.exitCode, 137);
    assert.equal((await status(shim, gone)).portoState, "absent");
    assert.equal((await status(shim, runs)).state, RUNNING);
    assert.equal(fresh().view.fallbacks, 0);

    // And it follows portod's changes again.
    killProcess(shim, podId, runs);
    await eventually("the death seen", async () => ((await status(shim, runs)).state === EXITED ? true : undefined));
    assert.equal(fresh().view.fallbacks, 0);
    const id = await newCtr(shim, podId, ["sleep", "1000"]);
    assert.equal((await status(shim, id)).state, RUNNING);
    await shim.rt.removePodSandbox({ podSandboxId: podId });
  });
});
