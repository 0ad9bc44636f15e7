/**
 * Contracts the pod and container lifecycle (src/runtime, src/cri/runtime)
 * relies on: a meta pod container with children, kill + wait as the stop
 * path that keeps the exit, an aging_time that keeps dead containers for
 * good, and one ListContainersBy finding every shim container by prefix mask
 * and label.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";

const OWNED = {
  map: [
    { key: "CRI.managed", val: "portoshim" },
    { key: "CRI.instance", val: "0123456789abcdef" },
  ],
};
/** Managed, but by a shim with another state directory. */
const OTHER = { map: [OWNED.map[0], { key: "CRI.instance", val: "fedcba9876543210" }] };

contract("pod and container lifecycle", (t) => {
  it("keeps aging_time 2^32-1 s as given (the shim's 'never age out'), on the spec and the property", async () => {
    const c = await t().connect();
    const name = t().name("aging");
    await c.call({ CreateFromSpec: { container: { name, agingTime: 0xffffffffn, weak: false } } });
    assert.equal(await c.get(name, "aging_time"), String(0xffffffff));
    const rsp = await c.call({ ListContainersBy: { filters: [{ name }], fieldOptions: { properties: ["aging_time", "weak"] } } });
    assert.equal(rsp.ListContainersBy!.containers[0].spec!.agingTime, 0xffffffffn);
    assert.equal(rsp.ListContainersBy!.containers[0].spec!.weak, false);
  });

  it("runs a child of a meta pod; kill + wait leave it dead with -signal while the pod stays meta", async () => {
    const c = await t().connect();
    const pod = t().name("pod");
    const ctr = `${pod}/ctr`;
    await c.call({ CreateFromSpec: { container: { name: pod, labels: OWNED }, start: true } });
    assert.equal(await c.get(pod, "state"), "meta");
    await c.call({ CreateFromSpec: { container: { name: ctr, commandArgv: { argv: ["sleep", "1000"] }, labels: OWNED } } });
    assert.equal(await c.get(ctr, "state"), "stopped");
    await c.call({ start: { name: ctr } });
    assert.equal(await c.get(ctr, "state"), "running");
    await c.call({ kill: { name: ctr, sig: 15 } });
    const waited = await c.call({ wait: { name: [ctr], timeoutMs: 5000 } });
    assert.equal(waited.wait!.name, ctr);
    assert.equal(waited.wait!.state, "dead");
    assert.equal(await c.get(ctr, "exit_code"), "-15");
    assert.equal(await c.get(pod, "state"), "meta");
    // Kill of a container that no longer runs is InvalidState: stop treats it as done.
    assert.equal(await c.code({ kill: { name: ctr, sig: 9 } }), EError.InvalidState);
    const fresh = `${pod}/fresh`;
    await c.call({ CreateFromSpec: { container: { name: fresh, commandArgv: { argv: ["sleep", "1"] } } } });
    assert.equal(await c.code({ kill: { name: fresh, sig: 9 } }), EError.InvalidState);
  });

  it("answers a sync wait on a running container that outlives it with `timeout`, leaving it running", async () => {
    const c = await t().connect();
    const name = t().name("grace");
    await c.call({ CreateFromSpec: { container: { name, commandArgv: { argv: ["sleep", "1000"] } }, start: true } });
    const waited = await c.call({ wait: { name: [name], timeoutMs: 200 } });
    assert.equal(waited.wait!.name, "");
    assert.equal(waited.wait!.state, "timeout");
    assert.equal(await c.get(name, "state"), "running");
  });

  it("finds pods and their children by prefix mask plus labels (all must match) in one ListContainersBy, with state and times", async () => {
    const c = await t().connect();
    const pod = t().name("view");
    await c.call({ CreateFromSpec: { container: { name: pod, labels: OWNED }, start: true } });
    await c.call({
      CreateFromSpec: { container: { name: `${pod}/a`, commandArgv: { argv: ["sh", "-c", "exit 7"] }, labels: OWNED }, start: true },
    });
    await c.call({ CreateFromSpec: { container: { name: `${pod}/b`, labels: OWNED } } });
    await c.call({ CreateFromSpec: { container: { name: `${pod}/foreign` } } });
    await c.call({ CreateFromSpec: { container: { name: `${pod}/other`, labels: OTHER } } });
    assert.equal(await c.waitFor(`${pod}/a`), "dead");
    const rsp = await c.call({
      ListContainersBy: {
        filters: [{ name: `${pod}***`, labels: OWNED }],
        fieldOptions: { properties: ["state", "exit_code", "oom_killed", "start_time", "death_time", "start_error"] },
      },
    });
    const byName = new Map(rsp.ListContainersBy!.containers.map((x) => [x.spec!.name, x.status!]));
    assert.deepEqual([...byName.keys()], [pod, `${pod}/a`, `${pod}/b`]);
    assert.equal(byName.get(pod)!.state, "meta");
    const a = byName.get(`${pod}/a`)!;
    assert.equal(a.state, "dead");
    assert.equal(a.exitCode, 7);
    assert.ok(a.startTime > 0n && a.deathTime >= a.startTime);
    assert.equal(byName.get(`${pod}/b`)!.state, "stopped");
    // Pods alone: `*` stops at `/`.
    const pods = await c.call({ ListContainersBy: { filters: [{ name: `${t().prefix}-vie*`, labels: OWNED }] } });
    assert.deepEqual(pods.ListContainersBy!.containers.map((x) => x.spec!.name), [pod]);
  });
});
