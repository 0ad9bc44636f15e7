/**
 * A log manager over the Porto double, with containers that run real child
 * processes, for the log tests.
 */
import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import type { Logger } from "pino";
import { PortoClient } from "../../src/porto/client.js";
import { ContainerLogManager, PORTO_WORK_DIR } from "../../src/logs/index.js";
import type { ContainerLogManagerOptions, ContainerLogSpec } from "../../src/logs/index.js";
import { startPortoDouble } from "../porto-double/index.js";
import type { PortoDouble } from "../porto-double/index.js";

export interface Harness {
  /** The double, unless the harness runs against a real portod. */
  double: PortoDouble | undefined;
  socketPath: string;
  porto: PortoClient;
  dir: string;
  stateDir: string;
  logDir: string;
  workDir: string;
  logger: Logger;
  manager(tuning?: ContainerLogManagerOptions["tuning"]): ContainerLogManager;
  /** Writes an executable shell script and returns its path. */
  script(name: string, body: string): Promise<string>;
  /** The Porto name for `name` (unique per harness against a real portod). */
  name(name: string): string;
  /** Creates and starts a Porto container running `command`; returns the log spec for it. */
  run(name: string, command: string, props?: Record<string, string>): Promise<ContainerLogSpec>;
  /** Waits until the container is dead. */
  waitDead(name: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export const FAST = { pollMs: 50, commitDelayMs: 20, minIntervalMs: 5 };

/**
 * `socket` runs against that portod instead of a double (containers are
 * named `logs-<random>-<name>` and destroyed at close).
 */
export async function harness(options: { logRotateMs?: number; socket?: string } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "logs-test-"));
  const double = options.socket ? undefined : await startPortoDouble({ workDir: join(dir, "place"), logRotateMs: options.logRotateMs });
  const socketPath = options.socket ?? double!.socketPath;
  const porto = new PortoClient({ socketPath, timeoutMs: 10_000 });
  const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
  const workDir = double ? double.state.daemon.options.workDir : PORTO_WORK_DIR;
  const prefix = double ? "" : `logs-${randomBytes(3).toString("hex")}-`;
  const created: string[] = [];
  const managers: ContainerLogManager[] = [];
  let n = 0;
  return {
    double,
    socketPath,
    porto,
    dir,
    stateDir: join(dir, "state"),
    logDir: join(dir, "pods"),
    workDir,
    logger,
    manager(tuning = FAST) {
      const m = new ContainerLogManager({ stateDir: join(dir, "state"), porto, logger, portoWorkDir: workDir, tuning });
      managers.push(m);
      return m;
    },
    async script(name, body) {
      const path = join(dir, name);
      await writeFile(path, `#!/bin/sh\n${body}\n`);
      await chmod(path, 0o755);
      return path;
    },
    name: (name) => prefix + name,
    async run(short, command, props = {}) {
      const name = prefix + short;
      await porto.create(name);
      created.push(name);
      await porto.setProperty(name, "command", command);
      for (const [k, v] of Object.entries(props)) await porto.setProperty(name, k, v);
      await porto.start(name);
      const id = `${(++n).toString(16).padStart(2, "0")}${"c".repeat(62)}`;
      return { containerId: id, portoName: name, logPath: join(dir, "pods", short, "0.log") };
    },
    async waitDead(name, ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        const r = await porto.wait([name], Math.max(1, end - Date.now()));
        if (r.state === "dead") return;
        if (Date.now() >= end) throw new Error(`${name} did not die`);
      }
    },
    async close() {
      await Promise.all(managers.map((m) => m.close().catch(() => {})));
      for (const name of created) await porto.destroy(name).catch(() => {});
      porto.close();
      await double?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
