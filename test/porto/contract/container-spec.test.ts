/**
 * Contracts the pure mapping (src/mapping) relies on when it builds pod and
 * container specs:
 * - typed `umask` carries the octal digits as a decimal number (22 is 022);
 * - `env` entries without a value unset portod's own USER and container,
 *   while PORTO_NAME/PORTO_HOST/PORTO_USER cannot be overridden;
 * - a child's `devices` must be allowed by its parent; a parent created with
 *   an (empty) device list can be granted more later, merged; r/w imply m;
 * - `cpu_period` is 1 ms..1 s in ns, `cpu_set` reads back as policy "set";
 * - a typed seccomp profile reads back without its name, and a profile on an
 *   ancestor forbids one on a descendant;
 * - with oom_is_fatal=false an OOM-killed main task is a plain SIGKILL
 *   (exit_code -9, oom_killed false) and only oom_kills tells;
 * - on a real portod: unknown syscall names fail the create, a meta
 *   container with isolate=true holds pid/uts namespaces for an isolate=false
 *   child (PID 1 is portoinit), and net "none" leaves only loopback.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { EError } from "../../../gen/rpc_pb.js";
import { EAction, ECompare } from "../../../gen/seccomp_pb.js";
import { contract } from "./targets.js";

contract("what container specs rely on", (t) => {
  it("typed umask is octal digits sent as a decimal number", async () => {
    const c = await t().connect();
    const name = t().name("umask");
    await c.call({ CreateFromSpec: { container: { name, umask: 22 } } });
    assert.equal(await c.get(name, "umask"), "022");
    const rsp = await c.call({ ListContainersBy: { filters: [{ name }] } });
    assert.equal(rsp.ListContainersBy!.containers[0].spec!.umask, 22);
    const bad = await c.raw({ UpdateFromSpec: { container: { name, umask: 0o22 } } });
    assert.equal(bad.error, EError.InvalidValue);
    assert.equal(bad.errorMsg, "Bad base-8 value: 18");
  });

  it("env entries without a value unset portod's USER and container; PORTO_* stay locked", async () => {
    const c = await t().connect();
    const name = t().name("env");
    await c.call({
      CreateFromSpec: {
        container: {
          name,
          commandArgv: { argv: ["env"] },
          env: { var: [{ name: "USER" }, { name: "container" }, { name: "HOME", value: "/home/x" }, { name: "PORTO_HOST", value: "fake" }, { name: "S", value: "a;b\\c" }] },
        },
        start: true,
      },
    });
    assert.equal(await c.waitFor(name), "dead");
    const env = (await c.get(name, "stdout")).split("\n");
    assert.ok(!env.some((l) => l.startsWith("USER=") || l.startsWith("container=")), env.join(" "));
    assert.ok(env.includes("HOME=/home/x"));
    assert.ok(env.includes("S=a;b\\c"));
    assert.ok(env.includes(`PORTO_NAME=${name}`));
    assert.ok(!env.includes("PORTO_HOST=fake"));
  });

  it("a child's devices must be allowed by its parent, which can be granted them later", async () => {
    const c = await t().connect();
    const parent = t().name("devpod");
    await c.call({ CreateFromSpec: { container: { name: parent, devices: { device: [] } } } });
    const child = `${parent}/c`;
    const refused = await c.raw({ CreateFromSpec: { container: { name: child, devices: { device: [{ device: "/dev/fuse", access: "rw" }] } } } });
    assert.equal(refused.error, EError.Permission);
    assert.equal(refused.errorMsg, "Device is not permitted for parent container");
    await c.call({ UpdateFromSpec: { container: { name: parent, devices: { device: [{ device: "/dev/fuse", access: "rwm" }], merge: true } } } });
    await c.call({ CreateFromSpec: { container: { name: child, devices: { device: [{ device: "/dev/fuse", access: "r", path: "/dev/x/fuse" }] } } } });
    const dev = await c.call({ ListContainersBy: { filters: [{ name: child }] } });
    const [d] = dev.ListContainersBy!.containers[0].spec!.devices!.device;
    assert.deepEqual([d.device, d.access, d.path], ["/dev/fuse", "rm", "/dev/x/fuse"]);
    assert.match(await c.get(child, "devices"), /^\/dev\/fuse rm \/dev\/x\/fuse 0[0-7]+ \S+ \S+; $/);
    const missing = await c.raw({ UpdateFromSpec: { container: { name: parent, devices: { device: [{ device: "/dev/no-such-device", access: "rw" }], merge: true } } } });
    assert.equal(missing.error, EError.DeviceNotFound);
    const outside = await c.raw({ UpdateFromSpec: { container: { name: parent, devices: { device: [{ device: "/dev/null", access: "rw", path: "/tmp/null" }], merge: true } } } });
    assert.equal(outside.error, EError.InvalidValue);
    assert.equal(outside.errorMsg, "Device path not in /dev: /tmp/null");
  });

  it("cpu_period is checked to be 1 ms..1 s; cpu_set reads back as an explicit set", async () => {
    const c = await t().connect();
    const name = t().name("cpu");
    await c.call({ CreateFromSpec: { container: { name, cpuPeriod: 50_000_000n, cpuSet: { policy: "set", list: "0" } } } });
    assert.equal(await c.get(name, "cpu_period"), "50000000");
    assert.equal(await c.get(name, "cpu_set"), "0");
    const spec = (await c.call({ ListContainersBy: { filters: [{ name }] } })).ListContainersBy!.containers[0].spec!;
    assert.equal(spec.cpuPeriod, 50_000_000n);
    assert.equal(spec.cpuSet?.policy, "set");
    assert.equal(spec.cpuSet?.list, "0");
    const bad = await c.raw({ UpdateFromSpec: { container: { name, cpuPeriod: 999_999n } } });
    assert.equal(bad.error, EError.InvalidValue);
    assert.equal(bad.errorMsg, "cpu period out of range");
  });

  it("a typed seccomp profile reads back without its name; one per branch of the tree", async () => {
    const c = await t().connect();
    const name = t().name("seccomp");
    const rules = [
      { syscall: "uselib", action: { action: EAction.Errno, value: 38n } },
      { syscall: "clone", args: [{ index: 0n, compare: ECompare.Ge, value: 0x0200_0000n }], action: { action: EAction.Errno, value: 1n } },
    ];
    await c.call({ CreateFromSpec: { container: { name, seccomp: { name: "mine", defaultAction: { action: EAction.Allow }, rules } } } });
    const spec = (await c.call({ ListContainersBy: { filters: [{ name }] } })).ListContainersBy!.containers[0].spec!;
    assert.equal(spec.seccomp?.name, "");
    assert.deepEqual(
      spec.seccomp?.rules.map((r) => [r.syscall, r.action?.action, r.action?.value, r.args.map((a) => [a.index, a.compare, a.value])]),
      [
        ["uselib", EAction.Errno, 38n, []],
        ["clone", EAction.Errno, 1n, [[0n, ECompare.Ge, 0x0200_0000n]]],
      ],
    );
    assert.equal(
      await c.get(name, "seccomp"),
      'default_action { action: Allow } rules { syscall: "uselib" action { action: Errno value: 38 } } rules { syscall: "clone" args { index: 0 compare: Ge value: 33554432 } action { action: Errno value: 1 } } ',
    );
    const child = await c.raw({ CreateFromSpec: { container: { name: `${name}/c`, seccomp: { rules: [rules[0]] } } } });
    assert.equal(child.error, EError.InvalidState);
    assert.equal(child.errorMsg, "seccomp already set for ancestor");
  });

  it("with oom_is_fatal=false an OOM-killed main task is a plain SIGKILL; oom_kills counts it", async () => {
    const c = await t().connect();
    const name = t().name("oom");
    await c.call({ CreateFromSpec: { container: { name, commandArgv: { argv: ["tail", "/dev/zero"] }, memoryLimit: 32n << 20n, oomIsFatal: false }, start: true } });
    assert.equal(await c.waitFor(name, 20_000), "dead");
    assert.equal(await c.get(name, "exit_code"), "-9");
    assert.equal(await c.get(name, "oom_killed"), "false");
    assert.ok(Number(await c.get(name, "oom_kills")) >= 1);
  });

  it("portod: an unknown syscall name fails the create", async () => {
    if (t().kind !== "portod") return; // libseccomp's syscall table is portod's, not the double's
    const c = await t().connect();
    const rsp = await c.raw({
      CreateFromSpec: { container: { name: t().name("badsys"), seccomp: { rules: [{ syscall: "no_such_call", action: { action: EAction.Errno, value: 1n } }] } } },
    });
    assert.equal(rsp.error, EError.InvalidValue);
    assert.equal(rsp.errorMsg, "unkonwn syscall no_such_call");
  });

  it("portod: a meta pod with isolate=true holds its namespaces for an isolate=false child; net none is loopback only", async () => {
    if (t().kind !== "portod") return; // the double has no namespaces
    const c = await t().connect();
    const pod = t().name("meta");
    await c.call({ CreateFromSpec: { container: { name: pod, isolate: true, hostname: "meta-pod", net: { cfg: [{ opt: "none" }] } }, start: true } });
    assert.equal(await c.get(pod, "state"), "meta");
    const child = `${pod}/c`;
    await c.call({
      CreateFromSpec: {
        container: { name: child, isolate: false, commandArgv: { argv: ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '"] } },
        start: true,
      },
    });
    assert.equal(await c.waitFor(child), "dead");
    assert.equal(await c.get(child, "stdout"), `portoinit --container ${pod} \nmeta-pod\nlo\n`);
  });
});
