/**
 * The client against the Porto test double (test/porto-double): a container's
 * life told through typed calls and AsyncWait events, as a CRI handler will.
 */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { EError } from "../../gen/rpc_pb.js";
import { startPortoDouble } from "../porto-double/index.js";
import type { PortoDouble } from "../porto-double/index.js";
import { PortoClient } from "../../src/porto/client.js";
import { PortoError, toConnectError } from "../../src/porto/errors.js";
import type { PortoEvent } from "../../src/porto/events.js";

let double: PortoDouble;
let porto: PortoClient;

before(async () => {
  double = await startPortoDouble();
  porto = new PortoClient({ socketPath: double.socketPath, timeoutMs: 10_000 });
});

after(async () => {
  porto.close();
  await double.close();
});

test("a container's life through the client and its events, against the Porto double", { timeout: 15_000 }, async () => {
  assert.ok((await porto.version()).tag.length > 0);

  const sub = porto.subscribe({ names: ["shimtest-*"], labels: ["CRI.*"] });
  await sub.ready;
  const events: PortoEvent[] = [];
  const collecting = (async () => {
    for await (const ev of sub) events.push(ev);
  })();

  await porto.createFromSpec(
    { name: "shimtest-a", command: "sh -c 'exit 3'", labels: { map: [{ key: "CRI.id", val: "a1" }] } },
    { start: true },
  );
  const done = await porto.wait(["shimtest-a"], 10_000);
  assert.equal(done.name, "shimtest-a");
  assert.equal(done.state, "dead");

  const props = await porto.get(["shimtest-a"], ["state", "exit_code", "labels"]);
  assert.deepEqual(props.get("shimtest-a")?.get("state"), { value: "dead" });
  assert.deepEqual(props.get("shimtest-a")?.get("exit_code"), { value: "3" });

  const found = await porto.findLabel("CRI.id", { value: "a1" });
  assert.deepEqual(
    found.map((e) => e.name),
    ["shimtest-a"],
  );
  const listed = await porto.listContainersBy([{ name: "shimtest-*" }], { properties: ["state"] });
  assert.deepEqual(
    listed.map((c) => c.spec?.name),
    ["shimtest-a"],
  );
  assert.deepEqual(await porto.list("shimtest-*"), ["shimtest-a"]);

  await porto.destroy("shimtest-a");
  const gone = await porto.destroy("shimtest-a").catch((e: unknown) => e);
  assert.ok(gone instanceof PortoError);
  assert.equal(gone.code, EError.ContainerDoesNotExist);
  assert.equal(toConnectError(gone).code, Code.NotFound);
  assert.deepEqual(await porto.list("shimtest-*"), []);

  await sub.close();
  await collecting;
  // portod reports a death with the `exit_code` pseudo-label set: state changes may carry labels too.
  const mine = events.filter((e) => e.type === "change" && e.name === "shimtest-a");
  const states = mine.map((e) => (e.type === "change" ? e.state : ""));
  assert.ok(states.includes("running"), `no running event among ${JSON.stringify(events)}`);
  assert.ok(states.includes("dead"), `no dead event among ${JSON.stringify(events)}`);
  assert.ok(
    mine.some((e) => e.type === "change" && e.label === "CRI.id" && e.value === "a1"),
    "label event missing",
  );
});
