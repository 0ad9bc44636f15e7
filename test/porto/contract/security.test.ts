/**
 * Contracts behind the mapping's security context (src/mapping/security.ts,
 * container-paths.ts, user.ts, container-spec.ts):
 * - `bind` flags: the set TBindMount::Load allows, unknown and other mount
 *   flags refused; text prints them in portod's table order, specs in bit order;
 * - supplementary groups cannot be given: TCred.grp is output only, the
 *   process gets its primary group (and the host's groups of its user);
 * on a real portod, with the lab's busybox image as the root volume:
 * - portod writes /etc/resolv.conf into a container with a root of its own
 *   even without resolv_conf (the host's), so a read-only root whose image
 *   lacks the file fails to start unless the file is made in the volume
 *   first (a copy-on-write share of an empty file); "keep" writes none;
 * - /dev/null bound over a hard link masks that path alone, and running it
 *   fails with EACCES; binds are mounted after the read-only remount of the
 *   root, into it;
 * - a bind's source may be the container's own root volume through its host
 *   path, which is how a path is made read-only in place;
 * - a /proc file as a source is the container's own procfs; a /proc or /sys
 *   directory is refused as a source;
 * - in app mode the command of an isolate=true container is PID 2 under
 *   portoinit; virt_mode=os makes it PID 1 but runs it as root whatever
 *   `user` says and sends its stdout to /dev/null, so CRI cannot use it.
 */
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EError } from "../../../gen/rpc_pb.js";
import { contract } from "./targets.js";
import type { RawPorto } from "./raw-porto.js";

const BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2";

contract("what the security context relies on", (t) => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "security-contract-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("bind flags: portod's allowed set, table order in text, bit order in specs", async () => {
    const c = await t().connect();
    const name = t().name("bindflags");
    await c.call({
      CreateFromSpec: {
        container: {
          name,
          bind: { bind: [{ source: "/tmp", target: "/mnt", flag: ["rec", "ro", "dev"] }, { source: "/dev/null", target: "/x", flag: ["private", "rec"] }] },
        },
      },
    });
    assert.equal(await c.get(name, "bind"), "/tmp /mnt ro,dev,rec;/dev/null /x rec,private");
    const rsp = await c.call({ ListContainersBy: { filters: [{ name }] } });
    assert.deepEqual(
      rsp.ListContainersBy!.containers[0].spec!.bind!.bind.map((b) => b.flag),
      [["ro", "rec", "dev"], ["rec", "private"]],
    );
    for (const [flag, msg] of [
      ["bogus", 'Unknown flag "bogus"'],
      ["remount", "Not allowed flags remount"],
    ]) {
      const bad = await c.raw({ CreateFromSpec: { container: { name: t().name(`bad${flag}`), bind: { bind: [{ source: "/tmp", target: "/mnt", flag: [flag] }] } } } });
      assert.equal(bad.error, EError.InvalidValue, flag);
      assert.equal(bad.errorMsg, msg);
    }
  });

  it("supplementary groups cannot be given: task_cred's grp is ignored, the process has its primary group only", async (ctx) => {
    if (t().kind === "double" && process.getuid?.() !== 0) return ctx.skip("the double sets uid/gid only when it runs as root");
    const c = await t().connect();
    const name = t().name("groups");
    await c.call({
      CreateFromSpec: {
        container: { name, commandArgv: { argv: ["id", "-G"] }, user: "4242", group: "4343", taskCred: { grp: [1234, 5678] } },
        start: true,
      },
    });
    assert.equal(await c.waitFor(name), "dead");
    assert.equal(await c.get(name, "stdout"), "4343\n");
  });

  /**
   * A started container with the busybox image as its root volume at
   * `<dir>/<tag>`, a child of a meta pod as the shim makes them (isolate=true,
   * net none); its output, or the start's error.
   */
  async function runInImage(c: RawPorto, tag: string, spec: Record<string, unknown>, volume: Record<string, unknown>, script: string) {
    const pod = t().name("pod");
    if ((await c.raw({ getProperty: { name: pod, property: "state" } })).error !== EError.Success)
      await c.call({ CreateFromSpec: { container: { name: pod, isolate: true, net: { cfg: [{ opt: "none" }] } }, start: true } });
    const name = `${pod}/${tag}`;
    const path = join(dir, tag);
    mkdirSync(path);
    const rsp = await c.raw(
      {
        CreateFromSpec: {
          container: { name, commandArgv: { argv: ["sh", "-c", script] }, ...spec },
          volumes: [{ backend: "overlay", image: BUSYBOX, path, privateValue: t().prefix, links: [{ container: name, containerRoot: true }] , ...volume }],
          start: true,
        },
      },
      60_000,
    );
    if (rsp.error !== EError.Success) return { name, path, error: rsp.errorMsg };
    assert.equal(await c.waitFor(name, 20_000), "dead");
    const read = async (property: string) => (await c.raw({ getProperty: { name, property } })).getProperty?.value;
    return { name, path, stdout: await read("stdout"), stderr: await read("stderr") };
  }

  /** Whether this target can build a root volume from the busybox image (a real portod that has it). */
  async function haveImage(c: RawPorto): Promise<boolean> {
    if (t().kind !== "portod") return false; // the double applies no roots, binds or mounts
    return (await c.raw({ dockerImageStatus: { name: BUSYBOX } })).error === EError.Success;
  }

  it("portod: resolv.conf is written into a read-only root even without resolv_conf; an empty file made in the volume first lets it start", async (ctx) => {
    const c = await t().connect();
    if (!(await haveImage(c))) return ctx.skip("needs a real portod with the busybox image");
    const ro = { rootReadonly: true };
    // The image lacks /run and /etc/resolv.conf; portod mounts over the one and writes the other.
    const run = { directories: [{ path: "run", permissions: 0o755 }] };
    const failed = await runInImage(c, "rodefault", ro, run, "cat /etc/resolv.conf");
    assert.match(failed.error ?? "", /Read-only file system: mknod\(\/etc\/resolv.conf/);
    // A hard link needs the volumes' filesystem: here the temporary directory is on it too.
    const empty = join(dir, "empty");
    writeFileSync(empty, "", { mode: 0o444 });
    const shared = await runInImage(c, "roshare", ro, { ...run, shares: [{ path: "etc/resolv.conf", originPath: empty, cow: true }] }, "cat /etc/resolv.conf; touch /x");
    assert.equal(shared.error, undefined);
    assert.ok(shared.stdout!.length > 0, "the host's resolv.conf");
    assert.equal(shared.stderr, "touch: /x: Read-only file system\n");
    const keep = await runInImage(c, "rokeep", { ...ro, resolvConf: "keep" }, run, "test -e /etc/resolv.conf; echo $?");
    assert.equal(keep.stdout, "1\n", "keep writes nothing");
  });

  it("portod: /dev/null over a hard link masks that path alone, even in a read-only root; exec gives EACCES", async (ctx) => {
    const c = await t().connect();
    if (!(await haveImage(c))) return ctx.skip("needs a real portod with the busybox image");
    const mask = { bind: { bind: [{ source: "/dev/null", target: "/bin/ls", flag: ["ro", "dev"] }] } };
    const r = await runInImage(c, "mask", mask, {}, "/bin/sh -c ls; echo rc=$?; cat /bin/ls | wc -c; /bin/busybox ls -i /bin/busybox >/dev/null && echo busybox-ok");
    assert.equal(r.stdout, "rc=127\n0\nbusybox-ok\n");
    assert.equal(r.stderr, "/bin/sh: ls: Permission denied\n");
    const ro = await runInImage(c, "maskro", { ...mask, rootReadonly: true, resolvConf: "keep" }, { directories: [{ path: "run", permissions: 0o755 }] }, "ls");
    assert.equal(ro.stderr, "sh: ls: Permission denied\n");
  });

  it("portod: the root volume's host path is a bind source, so a path is made read-only in place", async (ctx) => {
    const c = await t().connect();
    if (!(await haveImage(c))) return ctx.skip("needs a real portod with the busybox image");
    const tag = "rotmp";
    const r = await runInImage(c, tag, { bind: { bind: [{ source: join(dir, tag, "tmp"), target: "/tmp", flag: ["ro", "rec"] }] } }, {}, "touch /tmp/test; touch /x && echo root-rw");
    assert.equal(r.stderr, "touch: /tmp/test: Read-only file system\n");
    assert.equal(r.stdout, "root-rw\n");
  });

  it("portod: a /proc file as a source is the container's own procfs; /proc and /sys directories are refused", async (ctx) => {
    const c = await t().connect();
    if (!(await haveImage(c))) return ctx.skip("needs a real portod with the busybox image");
    const file = await runInImage(
      c,
      "procfile",
      { bind: { bind: [{ source: "/proc/1/comm", target: "/proc/1/comm", flag: ["ro"] }] } },
      {},
      "cat /proc/1/comm; echo x > /proc/1/comm",
    );
    assert.equal(file.stdout, "portoinit\n", "PID 1 of the container, not the host's");
    assert.equal(file.stderr, "sh: can't create /proc/1/comm: Read-only file system\n");
    const procDir = await runInImage(c, "procdir", { bind: { bind: [{ source: "/proc/fs", target: "/proc/fs", flag: ["ro"] }] } }, {}, "true");
    assert.equal(procDir.error, "Bindmount source /proc/fs: filesystem type is not allowed for write access");
    const sysDir = await runInImage(c, "sysdir", { bind: { bind: [{ source: "/sys/kernel", target: "/sys/kernel", flag: ["ro"] }] } }, {}, "true");
    // Read-only sysfs in the pod's namespace; a writable one is refused for its type, as /proc.
    assert.match(sysDir.error ?? "", /^Bindmount source \/sys\/kernel: (read only|filesystem type is not allowed)/);
  });

  it("portod: an isolated app container's command is PID 2 under portoinit; virt_mode=os makes it PID 1 but as root and without stdout", async (ctx) => {
    const c = await t().connect();
    if (!(await haveImage(c))) return ctx.skip("needs a real portod with the busybox image");
    const script = "echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo; id -u";
    const app = await runInImage(c, "pidapp", { isolate: true, user: "4242", group: "4242" }, {}, script);
    assert.match(app.stdout!, /^2\nportoinit .*\n4242\n$/);
    // In os mode stdout and stderr default to /dev/null: the output goes to a file of the root, read from the host.
    const os = await runInImage(c, "pidos", { isolate: true, virtMode: "os", user: "4242", group: "4242" }, {}, `(${script}) > /tmp/out`);
    assert.equal(await c.code({ getProperty: { name: os.name, property: "stdout" } }), EError.InvalidData, "stdout is /dev/null");
    assert.match(readFileSync(join(os.path, "tmp", "out"), "utf8"), /^1\nsh -c .*\n0\n$/);
  });
});
