/**
 * Where the real CNI plugins the bridge tests run live, and why those tests
 * skip when they cannot run (not root, plugins missing).
 */
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

const PLUGINS = ["bridge", "host-local", "portmap"];

/** The first directory holding bridge, host-local and portmap: CNI_TEST_BIN_DIR, Debian's, the upstream default. */
export const realPluginDir: string | undefined = [process.env.CNI_TEST_BIN_DIR, "/usr/lib/cni", "/opt/cni/bin"].find(
  (d) => d !== undefined && PLUGINS.every((p) => existsSync(join(d, p))),
);

/** A reason to skip the tests that run real plugins, or false when they can run. */
export const realPluginsSkip: string | false =
  process.getuid?.() !== 0
    ? "needs root (network namespaces, bridges, iptables)"
    : realPluginDir === undefined
      ? "needs the CNI plugins bridge, host-local and portmap (apt-get install containernetworking-plugins)"
      : false;

/** The text a server sends before closing, read over TCP; rejects when nothing answers within 5 s. */
export function fetchWord(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 5000 });
    let data = "";
    s.on("data", (b) => (data += b.toString()));
    s.on("end", () => resolve(data.trim()));
    s.on("timeout", () => {
      s.destroy();
      reject(new Error(`timeout connecting to ${host}:${port}`));
    });
    s.on("error", reject);
  });
}
