/**
 * A shim's log pump alone, in its own process, so a test can SIGKILL it at
 * any instant: `node --import tsx test/logs/pump-child.ts '<json>'` with
 * {socket, stateDir, workDir, spec}. Prints "ready" once it has recovered;
 * its JSON log lines go to stdout too.
 */
import pino from "pino";
import { PortoClient } from "../../src/porto/client.js";
import { ContainerLogManager } from "../../src/logs/index.js";
import type { ContainerLogSpec } from "../../src/logs/index.js";

const cfg = JSON.parse(process.argv[2]) as { socket: string; stateDir: string; workDir: string; spec: ContainerLogSpec };
const porto = new PortoClient({ socketPath: cfg.socket, timeoutMs: 10_000 });
const manager = new ContainerLogManager({
  stateDir: cfg.stateDir,
  porto,
  logger: pino({ level: "info" }, pino.destination(1)),
  portoWorkDir: cfg.workDir,
  tuning: { pollMs: 30, commitDelayMs: 60, minIntervalMs: 2, readChunkBytes: 4096 },
});
await manager.recover([cfg.spec]);
process.stdout.write("ready\n");
setInterval(() => {}, 1000);
