/**
 * Contracts the streaming code relies on (src/streaming/porto-exec.ts):
 * - stream paths `/dev/fd/N` re-open descriptor N of the requesting client,
 *   and that works for FIFOs already unlinked from the file system;
 * - an isolate=false child shares its parent's PID and network namespaces and
 *   inherits its environment and working directory;
 * - a weak child dies with the connection that created it;
 * - an isolate=false child does NOT get its parent's capabilities by default
 *   (portod gives it its own default set), but exactly them when they are set
 *   on it, which is why exec copies them.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readlinkSync } from "node:fs";
import { EError } from "../../../gen/rpc_pb.js";
import { openFifoStdio } from "../../../src/streaming/fifo-stdio.js";
import { contract } from "./targets.js";

async function collect(s: NodeJS.ReadableStream | undefined): Promise<string> {
  let out = "";
  if (!s) return out;
  for await (const c of s) out += (c as Buffer).toString();
  return out;
}

contract("exec inside a container", (t) => {
  it("/dev/fd/N redirects into the client's unlinked FIFOs, both ways, with end-of-file at exit", async () => {
    const c = await t().connect();
    const name = t().name("fifo");
    const fifo = await openFifoStdio({ stdin: true, stdout: true, stderr: true });
    try {
      await c.call({
        CreateFromSpec: {
          container: {
            name,
            commandArgv: { argv: ["sh", "-c", "read line; echo got:$line; echo oops >&2; exit 2"] },
            stdinPath: fifo.stdinPath,
            stdoutPath: fifo.stdoutPath,
            stderrPath: fifo.stderrPath,
          },
          start: true,
        },
      });
      fifo.started();
      fifo.stdin!.end("hello\n");
      const [out, err] = await Promise.all([collect(fifo.stdout), collect(fifo.stderr)]);
      assert.equal(out, "got:hello\n");
      assert.equal(err, "oops\n");
      assert.equal(await c.waitFor(name), "dead");
      assert.equal(await c.get(name, "exit_code"), "2");
    } finally {
      fifo.dispose();
    }
  });

  it("an isolate=false child shares the parent's PID and network namespaces, env and cwd", async () => {
    const c = await t().connect();
    const parent = t().name("target");
    await c.call({
      CreateFromSpec: {
        container: { name: parent, command: "sleep 1000", env: { var: [{ name: "FROM_PARENT", value: "yes" }] }, cwd: "/tmp" },
        start: true,
      },
    });
    const rootPid = await c.get(parent, "root_pid");
    const child = `${parent}/exec`;
    const fifo = await openFifoStdio({ stdin: false, stdout: true, stderr: false });
    try {
      await c.call({
        CreateFromSpec: {
          container: {
            name: child,
            isolate: false,
            commandArgv: { argv: ["sh", "-c", 'readlink /proc/self/ns/pid /proc/self/ns/net; echo "$FROM_PARENT"; pwd'] },
            stdoutPath: fifo.stdoutPath,
          },
          start: true,
        },
      });
      fifo.started();
      const lines = (await collect(fifo.stdout)).trim().split("\n");
      assert.equal(lines[0], readlinkSync(`/proc/${rootPid}/ns/pid`));
      assert.equal(lines[1], readlinkSync(`/proc/${rootPid}/ns/net`));
      assert.equal(lines[2], "yes");
      assert.equal(lines[3], "/tmp");
      assert.equal(await c.waitFor(child), "dead");
      assert.equal(await c.get(child, "exit_code"), "0");
    } finally {
      fifo.dispose();
    }
  });

  it("a weak child is destroyed, its process killed, when its connection closes", async () => {
    const c = await t().connect();
    const parent = t().name("weakparent");
    await c.call({ CreateFromSpec: { container: { name: parent, command: "sleep 1000" }, start: true } });
    const owner = await t().connect();
    const child = `${parent}/exec`;
    await owner.call({
      CreateFromSpec: { container: { name: child, weak: true, isolate: false, command: "sleep 1000" }, start: true },
    });
    const pid = Number(await c.get(child, "root_pid"));
    assert.ok(pid > 0);
    await owner.close();
    for (let i = 0; i < 100; i++) {
      if ((await c.code({ getProperty: { name: child, property: "state" } })) === EError.ContainerDoesNotExist) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await c.code({ getProperty: { name: child, property: "state" } }), EError.ContainerDoesNotExist);
    assert.equal(await c.get(parent, "state"), "running");
  });

  it("capabilities: a child's default ignores the parent's; copied, they match the main process", async (ctx) => {
    if (t().kind === "double") return ctx.skip("the double does not model capabilities");
    const c = await t().connect();
    const parent = t().name("caps");
    const caps = "CHOWN;KILL";
    await c.call({ CreateFromSpec: { container: { name: parent, command: "sleep 1000", capabilities: { cap: caps.split(";") } }, start: true } });
    const capEff = (pid: string) => /CapEff:\s*(\w+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1];
    const main = capEff(await c.get(parent, "root_pid"));
    assert.equal(main, "0000000000000021");
    const run = async (suffix: string, capabilities?: { cap: string[] }) => {
      const name = `${parent}/${suffix}`;
      await c.call({ CreateFromSpec: { container: { name, isolate: false, command: "sleep 1000", capabilities }, start: true } });
      return capEff(await c.get(name, "root_pid"));
    };
    assert.notEqual(await run("default"), main, "portod's default for the child is not the parent's set");
    assert.equal(await run("copied", { cap: caps.split(";") }), main);
  });
});
