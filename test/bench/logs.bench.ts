/**
 * Benchmark: a container writes 200 MB to stdout (100-byte lines from `yes`);
 * how long until the last line is in its CRI log file, the throughput, and
 * the shim's CPU seconds per 100 MB.
 *
 *   node --import tsx test/bench/logs.bench.ts [--porto /run/portod.socket] [--mb 200] [--limit BYTES]
 *
 * Without --porto it runs against the Porto test double (whose request
 * handling then counts in the CPU figure too). --limit sets the container's
 * stdout_limit (default: what the shim sets, STDOUT_LIMIT_BYTES); with a
 * writer faster than the pump and a small limit, portod rotates output away
 * and the figures say how much.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import pino from "pino";
import { PortoClient } from "../../src/porto/client.js";
import { ContainerLogManager, STDOUT_LIMIT_BYTES, PORTO_WORK_DIR } from "../../src/logs/index.js";
import { startPortoDouble } from "../porto-double/index.js";

const { values } = parseArgs({
  options: {
    porto: { type: "string" },
    mb: { type: "string", default: "200" },
    limit: { type: "string" },
  },
});
const total = Number(values.mb) * 1_000_000;
const limit = values.limit ? Number(values.limit) : STDOUT_LIMIT_BYTES;
const LINE = 100;

const dir = await mkdtemp(join(tmpdir(), "logs-bench-"));
const double = values.porto ? undefined : await startPortoDouble({ workDir: join(dir, "place") });
const socketPath = values.porto ?? double!.socketPath;
const porto = new PortoClient({ socketPath, timeoutMs: 60_000 });
const logger = pino({ level: process.env.LOG_LEVEL ?? "warn" });
const manager = new ContainerLogManager({
  stateDir: join(dir, "state"),
  porto,
  logger,
  portoWorkDir: double ? double.state.daemon.options.workDir : PORTO_WORK_DIR,
});
const name = `logbench-${randomBytes(3).toString("hex")}`;
const spec = { containerId: randomBytes(32).toString("hex"), portoName: name, logPath: join(dir, "pods", "c", "0.log") };

try {
  await porto.create(name);
  await porto.setProperty(name, "command", `sh -c 'yes ${"x".repeat(LINE - 1)} | head -c ${total}'`);
  await porto.setProperty(name, "stdout_limit", String(limit));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await porto.start(name);
  await manager.start(spec);
  for (;;) {
    const r = await porto.wait([name], 60_000);
    if (r.state === "dead") break;
  }
  const tDead = performance.now();
  await manager.flush(spec.containerId);
  const tDone = performance.now();
  const cpu = process.cpuUsage(cpu0);

  const { lines, content } = await countLines(spec.logPath);
  const secs = (tDone - t0) / 1000;
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  const stats = manager.stats();
  const figures = {
    target: values.porto ? `portod (${socketPath})` : "porto double",
    stdout_limit: limit,
    written_mb: total / 1e6,
    writer_done_s: +((tDead - t0) / 1000).toFixed(3),
    last_line_in_log_s: +secs.toFixed(3),
    mb_per_s: +(total / 1e6 / secs).toFixed(1),
    shim_cpu_s: +cpuSecs.toFixed(3),
    shim_cpu_s_per_100mb: +((cpuSecs * 100e6) / total).toFixed(3),
    cri_lines: lines,
    expected_lines: total / LINE,
    content_mb: +(content / 1e6).toFixed(3),
    log_file_mb: +((await stat(spec.logPath)).size / 1e6).toFixed(1),
    lost_mb_to_rotation: +(stats.lostBytes / 1e6).toFixed(3),
    dropped_lines: stats.droppedLines,
  };
  console.log(JSON.stringify(figures, null, 2));
} finally {
  await manager.close();
  await porto.destroy(name).catch(() => {});
  porto.close();
  await double?.close();
  await rm(dir, { recursive: true, force: true });
}

/** CRI lines in the file and the content bytes they carry (F lines count their newline). */
async function countLines(path: string): Promise<{ lines: number; content: number }> {
  let lines = 0;
  let content = 0;
  let carry = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    let buf = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break;
      // "<ts> <stream> <tag> <content>": content starts after the third space.
      let sp = buf.indexOf(0x20, pos);
      sp = buf.indexOf(0x20, sp + 1);
      const tag = buf[sp + 1];
      sp = buf.indexOf(0x20, sp + 1);
      content += nl - sp - 1 + (tag === 0x46 ? 1 : 0);
      lines++;
      pos = nl + 1;
    }
    buf = buf.subarray(pos);
    carry = Buffer.from(buf);
  }
  return { lines, content };
}
