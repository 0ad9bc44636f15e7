import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PullCoordinator } from "../../src/images/pull-coordinator.js";

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("pull coordinator", () => {
  test("concurrent runs of one key share one start and its result", async () => {
    const c = new PullCoordinator<string>();
    const d = deferred<string>();
    let starts = 0;
    const start = () => {
      starts++;
      return d.promise;
    };
    const all = [c.run("a", start), c.run("a", start), c.run("a", start)];
    assert.equal(c.size, 1);
    d.resolve("id");
    assert.deepEqual(await Promise.all(all), ["id", "id", "id"]);
    assert.equal(starts, 1);
    assert.equal(c.size, 0);
  });

  test("other keys run on their own; a finished run is not reused", async () => {
    const c = new PullCoordinator<number>();
    let n = 0;
    const start = async () => ++n;
    assert.deepEqual(await Promise.all([c.run("a", start), c.run("b", start)]), [1, 2]);
    assert.equal(await c.run("a", start), 3);
  });

  test("a failure reaches every waiter, and the next run starts afresh", async () => {
    const c = new PullCoordinator<string>();
    const d = deferred<string>();
    const a = c.run("k", () => d.promise);
    const b = c.run("k", () => d.promise);
    d.reject(new Error("registry said no"));
    await assert.rejects(a, /registry said no/);
    await assert.rejects(b, /registry said no/);
    assert.equal(await c.run("k", async () => "ok"), "ok");
  });

  test("a caller that gives up stops waiting; the run goes on for the others", async () => {
    const c = new PullCoordinator<string>();
    const d = deferred<string>();
    const ac = new AbortController();
    const quitter = c.run("k", () => d.promise, ac.signal);
    const stayer = c.run("k", () => d.promise);
    ac.abort();
    await assert.rejects(quitter, (e: unknown) => (e as Error).name === "AbortError");
    d.resolve("done");
    assert.equal(await stayer, "done");
  });

  test("a run whose every caller left does not become an unhandled rejection", async () => {
    const c = new PullCoordinator<string>();
    const d = deferred<string>();
    const ac = new AbortController();
    const p = c.run("k", () => d.promise, ac.signal);
    ac.abort();
    await assert.rejects(p);
    d.reject(new Error("late failure"));
    await new Promise((r) => setImmediate(r));
    assert.equal(c.size, 0);
  });
});
