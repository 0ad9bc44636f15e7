/**
 * Named network namespaces for pods: a namespace made persistent by
 * bind-mounting /proc/<pid>/ns/net onto a file in CNI.NetnsDir, so that it
 * outlives the process that created it, CNI plugins can enter it by path and
 * portod can join it by name (`net: netns NAME`, which portod resolves under
 * /var/run/netns only).
 *
 * Creating one takes unshare(CLONE_NEWNET) plus a bind mount, which Node.js
 * cannot do without a native addon, so we run the tools that do:
 *
 * - NetnsDir is /var/run/netns (or /run/netns, the same place): `ip netns
 *   add` from iproute2. Besides creating the namespace it makes that
 *   directory a shared mount, so the bind mount (and later its unmount)
 *   propagates to mount namespaces created meanwhile (portod's containers
 *   among them); without that a copy of the mount left in such a namespace
 *   keeps the namespace alive after we remove it. It is also the convention
 *   `ip netns list` / `ip netns exec` and operators work with.
 * - Any other directory: `unshare --net=FILE` from util-linux, which binds
 *   the new namespace onto an empty file we create first; `ip netns` cannot
 *   be pointed elsewhere.
 *
 * Either way the loopback interface is brought up inside, as containerd and
 * CRI-O do besides the CNI network (the node's network config rarely has a
 * loopback plugin). Removal unmounts lazily and unlinks; a namespace still
 * used by a process lives on until that process exits, which is the kernel's
 * business, not a leak of ours.
 */
import { execFile } from "node:child_process";
import { mkdir, open, readdir, stat, unlink } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";

/** Our namespaces are named PREFIX + pod id, so reconciliation never touches others' (containerd's cni-*). */
export const NETNS_PREFIX = "portoshim-";

/** The directories portod looks up `netns NAME` in (/var/run links to /run on current systems). */
const PORTO_NETNS_DIRS = ["/var/run/netns", "/run/netns"];

/** How long one ip/unshare/umount run may take; they do a few syscalls. */
const TOOL_TIMEOUT_MS = 30_000;

export function netnsNameFor(podId: string): string {
  return `${NETNS_PREFIX}${podId}`;
}

/** The pod id a namespace name belongs to, or undefined when the name is not ours. */
export function podIdOfNetns(name: string): string | undefined {
  return name.startsWith(NETNS_PREFIX) && name.length > NETNS_PREFIX.length ? name.slice(NETNS_PREFIX.length) : undefined;
}

/** True when `ip netns` manages `dir` (see the module comment). */
export function usesIproute(dir: string): boolean {
  return PORTO_NETNS_DIRS.includes(resolve(dir));
}

/**
 * The name portod accepts in `net: netns NAME` for namespace `name` in
 * `dir`: its path relative to /var/run/netns, or undefined when `dir` is not
 * below it (portod cannot join such a namespace by name).
 */
export function portoNetnsName(dir: string, name: string): string | undefined {
  const file = join(resolve(dir), name);
  for (const base of PORTO_NETNS_DIRS) {
    const rel = relative(base, file);
    if (rel !== "" && !rel.startsWith("..") && !rel.startsWith(sep)) return rel;
  }
  return undefined;
}

/** Creates namespace `name` in `dir` with lo up; returns its path. Fails if it exists. */
export async function createNetns(dir: string, name: string): Promise<string> {
  checkName(name);
  const path = join(dir, name);
  if (usesIproute(dir)) {
    await tool("ip", ["netns", "add", name]);
    try {
      await tool("ip", ["-n", name, "link", "set", "dev", "lo", "up"]);
    } catch (err) {
      await removeNetns(dir, name).catch(() => {});
      throw err;
    }
    return path;
  }
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // The bind mount needs an existing file; "wx" also refuses a name in use.
  await (await open(path, "wx", 0o444)).close();
  try {
    await tool("unshare", [`--net=${path}`, "ip", "link", "set", "dev", "lo", "up"]);
  } catch (err) {
    await removeNetns(dir, name).catch(() => {});
    throw err;
  }
  return path;
}

/** Removes namespace `name` from `dir`; absent is fine (removal is retried). */
export async function removeNetns(dir: string, name: string): Promise<void> {
  checkName(name);
  const path = join(dir, name);
  if (!(await exists(path))) return;
  if (usesIproute(dir)) {
    await tool("ip", ["netns", "delete", name]);
    return;
  }
  // Not mounted (a create that failed half-way) is fine: the unlink says
  // EBUSY if a mount is really still there.
  await tool("umount", ["--lazy", path]).catch(() => {});
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** Names of our namespaces in `dir` (those with {@link NETNS_PREFIX}). */
export async function listNetns(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => podIdOfNetns(n) !== undefined).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/**
 * True when `path` is a mounted network namespace: its device is nsfs, the
 * same as our own /proc/self/ns/net. A file left unmounted (by a reboot with
 * a persistent /run, or a create cut short) is not, and CNI plugins fail on
 * such a path where they accept an empty one.
 */
export async function isNetnsMounted(path: string): Promise<boolean> {
  try {
    const [file, own] = await Promise.all([stat(path), stat("/proc/self/ns/net")]);
    return file.dev === own.dev;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function checkName(name: string): void {
  // Names reach ip's command line and portod's property; keep them plain.
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === "." || name === "..") {
    throw new Error(`invalid network namespace name ${JSON.stringify(name)}`);
  }
}

function tool(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: TOOL_TIMEOUT_MS, killSignal: "SIGKILL" }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const said = String(stderr).trim() || err.message;
      reject(new Error(`${cmd} ${args.join(" ")}: ${said}`));
    });
  });
}
