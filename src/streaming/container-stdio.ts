/**
 * The main process' stdio as attach sees it, and what StartContainer must do
 * for containers created with `stdin: true`.
 *
 * Output. portod writes the main process' stdout and stderr to its own files
 * in the container's work directory (src/logs/porto-stdio.ts explains why the
 * shim never redirects them). Attach follows those files from their current
 * end, like `tail -f`: the client sees what the process writes from now on,
 * and any number of attachers may follow at once. portod cuts a file's head
 * when it outgrows stdout_limit; a file that shrank is re-read at the same
 * absolute position using stdout_offset/stderr_offset.
 *
 * Input. A process can only get input if its stdin was a pipe we can reach
 * when it started. For a container whose config has `stdin: true`,
 * StartContainer must, right before it asks portod to start the container:
 *
 *     const stdin = await containerStdio.prepareStdin(containerId);
 *     // stdin_path = stdin.stdinPath  (SetProperty or UpdateFromSpec on the container)
 *     await porto.start(name);
 *     stdin.started();          // also after a failed start
 *
 * and RemoveContainer must call `containerStdio.release(containerId)`.
 * prepareStdin makes a FIFO in `dir` (default /run/portoshim/stdin) and starts
 * a tiny keeper (`sleep infinity`, detached) that holds its write end, so the
 * process never sees end-of-file while nobody is attached, not even across a
 * shim restart; attachers open the FIFO by path. With `stdin_once` the first
 * attacher's end of input closes the process' stdin for good (the keeper is
 * stopped), as kubelet expects. Without prepareStdin the container's stdin is
 * /dev/null and attach carries output only.
 *
 * Terminals. A container created with `tty: true` gets a terminal instead
 * of all of the above: StartContainer calls `prepareTty` where it would call
 * prepareStdin, and sets the slave it returns as stdin_path, stdout_path and
 * stderr_path (portod makes it the controlling terminal):
 *
 *     const tty = await containerStdio.prepareTty(containerId, { stdin, stdinOnce });
 *     // stdin_path = stdout_path = stderr_path = tty.slavePath
 *     await porto.start(name);
 *     tty.started();            // also after a failed start
 *
 * The master is kept by a holder outside the shim (tty-holder.ts), which
 * copies the terminal's output to `tty.outputPath`: portod has no output
 * file for such a container, so its CRI log follows that file as stdout
 * (ContainerLogSpec.terminal). Attach then connects to the holder: input and
 * window sizes go to the terminal, what it shows comes back on stdout (a tty
 * session has no stderr), and input reaches the process only if the container
 * was created with stdin, as with containerd. `release` stops the holder too.
 */
import { spawn } from "node:child_process";
import { constants as fsConstants, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { Socket } from "node:net";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Logger } from "pino";
import type { Writable } from "node:stream";
import type { PortoClient } from "../porto/client.js";
import { portoStdioPaths, PORTO_WORK_DIR } from "../logs/porto-stdio.js";
import type { AttachBackend } from "./attach.js";
import type { StdioStreams } from "./exec-backend.js";
import { ExecError } from "./exec-backend.js";
import type { Located } from "./locator.js";
import type { PreparedTty, TerminalOptions, TtyHolders } from "./tty-holder.js";
import { releaseGone } from "./leftovers.js";

const run = promisify(execFile);

/** How often attach looks for new output. */
const POLL_MS = 50;
const READ_CHUNK = 1 << 20;

export interface ContainerStdioOptions {
  porto: Pick<PortoClient, "get">;
  /** Where stdin FIFOs live; default /run/portoshim/stdin. */
  dir?: string;
  /** portod's work directory root (the double's differs). */
  portoWorkDir?: string;
  /** Terminals for containers created with tty; without them prepareTty fails. */
  ttys?: TtyHolders;
  /**
   * A command prefix that starts each stdin keeper outside the shim's
   * cgroup (tty-holder.ts's systemdScopeLauncher): under systemd,
   * KillMode=mixed kills what is left in the unit when the shim stops, and a
   * killed keeper is an end of input for the container. Without it, or when
   * it fails, the keeper is started directly.
   */
  launcher?: (containerId: string) => string[];
  logger?: Logger;
}

/** How long a launched keeper may take to become `sleep infinity`. */
const KEEPER_START_MS = 5000;
const isKeeper = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep\0infinity");
  } catch {
    return false;
  }
};

interface FollowStart {
  fh: FileHandle;
  pos: number;
  base: number;
}

export interface PreparedStdin {
  /** The value for the container's stdin_path. */
  stdinPath: string;
  /** Call once the start request returned (whatever it returned). */
  started(): void;
}

export class ContainerStdio implements AttachBackend {
  private readonly dir: string;
  private readonly workDir: string;
  /** stdin_once containers whose first attacher has come. */
  private readonly onceUsed = new Set<string>();

  constructor(private readonly options: ContainerStdioOptions) {
    this.dir = options.dir ?? "/run/portoshim/stdin";
    this.workDir = options.portoWorkDir ?? PORTO_WORK_DIR;
  }

  /** For StartContainer of a container with stdin (see the module comment). */
  async prepareStdin(containerId: string, stdinOnce = false): Promise<PreparedStdin> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const fifo = this.fifoPath(containerId);
    this.stopKeeper(containerId);
    rmSync(fifo, { force: true });
    await run("mkfifo", ["-m", "0600", fifo]);
    if (stdinOnce) writeFileSync(`${fifo}.once`, "");
    const reader = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const writer = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    let pid: number | undefined;
    try {
      pid = await this.startKeeper(containerId, writer);
    } finally {
      closeSync(writer);
    }
    if (pid) writeFileSync(`${fifo}.keeper`, String(pid));
    let open = true;
    return {
      stdinPath: `/dev/fd/${reader}`,
      started() {
        if (open) closeSync(reader);
        open = false;
      },
    };
  }

  /** For StartContainer of a container with tty (see the module comment). */
  async prepareTty(containerId: string, terminal: TerminalOptions): Promise<PreparedTty> {
    if (!this.options.ttys) throw new Error("terminals are not set up in this shim");
    return this.options.ttys.prepare(containerId, terminal);
  }

  /** For RemoveContainer: stops the keeper or the terminal holder and removes their files. */
  release(containerId: string): void {
    this.options.ttys?.release(containerId);
    this.stopKeeper(containerId);
    const fifo = this.fifoPath(containerId);
    for (const f of [fifo, `${fifo}.keeper`, `${fifo}.once`]) rmSync(f, { force: true });
    this.onceUsed.delete(containerId);
  }

  async attach(target: Located, io: StdioStreams): Promise<void> {
    // A container started with a terminal has no output files of portod's: its holder serves attach.
    if (this.options.ttys?.owns(target.id)) return this.options.ttys.attach(target.id, io);
    const { stdoutPath, stderrPath } = portoStdioPaths(target.portoName, this.workDir);
    if (!existsSync(stdoutPath)) throw new ExecError(`container ${target.id} has no output files to attach to`, "not-running");
    const done = new AbortController();
    const stop = () => done.abort();
    io.signal.addEventListener("abort", stop, { once: true });
    // Take the files' current ends before any input goes in, so the answer to it is seen.
    const [outStart, errStart] = await Promise.all([
      io.stdout ? this.position(target, "stdout", stdoutPath) : undefined,
      io.stderr ? this.position(target, "stderr", stderrPath) : undefined,
    ]);
    const followers: Promise<void>[] = [];
    if (io.stdout && outStart) followers.push(this.follow(target, "stdout", outStart, io.stdout, done.signal));
    if (io.stderr && errStart) followers.push(this.follow(target, "stderr", errStart, io.stderr, done.signal));
    // Input may end before the session does: output goes on until the client leaves or the process ends.
    if (io.stdin) void this.feed(target.id, io.stdin, done);
    const watcher = this.watchDeath(target.portoName, done);
    try {
      await new Promise<void>((resolve) => done.signal.addEventListener("abort", () => resolve(), { once: true }));
    } finally {
      done.abort();
      io.signal.removeEventListener("abort", stop);
      await Promise.all(followers);
      await watcher;
    }
  }

  private fifoPath(containerId: string): string {
    return join(this.dir, containerId);
  }

  private isOnce(containerId: string): boolean {
    return existsSync(`${this.fifoPath(containerId)}.once`);
  }

  /** Copies the client's input into the container's stdin FIFO; stdin_once closes it for good after. */
  private async feed(containerId: string, from: NodeJS.ReadableStream, done: AbortController): Promise<void> {
    const fifo = this.fifoPath(containerId);
    if (!existsSync(fifo)) {
      // The container was not started with stdin: input goes nowhere, as with containerd.
      from.resume();
      return;
    }
    const once = this.isOnce(containerId);
    if (once && this.onceUsed.has(containerId)) return;
    if (once) this.onceUsed.add(containerId);
    let fd: number;
    try {
      fd = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch {
      from.resume(); // no reader: the process closed its stdin
      return;
    }
    const sink: Writable = new Socket({ fd, readable: false, writable: true });
    sink.on("error", () => undefined);
    await new Promise<void>((resolve) => {
      const finish = () => {
        from.unpipe(sink);
        resolve();
      };
      from.once("end", finish);
      from.once("close", finish);
      done.signal.addEventListener("abort", finish, { once: true });
      from.pipe(sink, { end: false });
    });
    sink.end();
    if (once) this.stopKeeper(containerId);
  }

  /** An output file opened at its current end, with portod's count of bytes cut from its head. */
  private async position(target: Located, stream: "stdout" | "stderr", path: string): Promise<FollowStart | undefined> {
    try {
      const fh = await open(path, "r");
      const [st, base] = await Promise.all([fh.stat(), this.offset(target.portoName, stream)]);
      return { fh, pos: st.size, base };
    } catch {
      return undefined;
    }
  }

  /** Streams what portod appends to one output file until `signal` aborts. */
  private async follow(target: Located, stream: "stdout" | "stderr", start: FollowStart, to: Writable, signal: AbortSignal) {
    const fh = start.fh;
    try {
      let pos = start.pos; // position in the file
      let base = start.base; // bytes portod cut from its head
      const buf = Buffer.alloc(READ_CHUNK);
      for (;;) {
        const size = (await fh.stat()).size;
        if (size < pos) {
          // portod cut the head: the same absolute position is now further up.
          const now = await this.offset(target.portoName, stream);
          pos = Math.max(0, pos - (now - base));
          base = now;
        }
        while (pos < (await fh.stat()).size) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          if (!to.write(Buffer.from(buf.subarray(0, bytesRead)))) {
            await new Promise((r) => to.once("drain", r));
          }
        }
        if (signal.aborted) break;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch {
      // the file went away with the container
    } finally {
      await fh.close();
      if (!to.writableEnded) to.end();
    }
  }

  private async offset(name: string, stream: "stdout" | "stderr"): Promise<number> {
    const v = (await this.options.porto.get([name], [`${stream}_offset`])).get(name)?.get(`${stream}_offset`);
    return v && "value" in v ? Number(v.value) : 0;
  }

  /** Aborts `done` when the container stops running (after a last read of its output). */
  private async watchDeath(name: string, done: AbortController): Promise<void> {
    while (!done.signal.aborted) {
      const v = (await this.options.porto.get([name], ["state"]).catch(() => undefined))?.get(name)?.get("state");
      const state = v && "value" in v ? v.value : "gone";
      if (state !== "running" && state !== "starting") {
        await new Promise((r) => setTimeout(r, POLL_MS * 2)); // let followers read the last bytes
        done.abort();
        return;
      }
      await sleep(500, done.signal);
    }
  }

  /** Starts the process that holds the FIFO's write end (through the launcher when there is one); its pid. */
  private async startKeeper(containerId: string, writer: number): Promise<number | undefined> {
    const launcher = this.options.launcher?.(containerId) ?? [];
    if (launcher.length > 0) {
      const launched = spawn(launcher[0]!, [...launcher.slice(1), "sleep", "infinity"], { stdio: ["ignore", writer, "ignore"], detached: true });
      launched.unref();
      const pid = launched.pid;
      let exited = false;
      launched.once("exit", () => (exited = true));
      launched.once("error", () => (exited = true));
      // systemd-run --scope execs the command in place once the scope exists: same pid, new cmdline.
      for (const deadline = Date.now() + KEEPER_START_MS; !exited && Date.now() < deadline; ) {
        if (pid && isKeeper(pid)) return pid;
        await new Promise((r) => setTimeout(r, 5));
      }
      if (pid && !exited) process.kill(pid, "SIGKILL");
      this.options.logger?.warn({ container: containerId, launcher: launcher[0] }, "cannot start the stdin keeper through its launcher; starting it directly");
    }
    const keeper = spawn("sleep", ["infinity"], { stdio: ["ignore", writer, "ignore"], detached: true });
    keeper.unref();
    return keeper.pid;
  }

  /**
   * Start-up: stops the keepers and removes the FIFOs of containers that no
   * longer exist (removed while the shim was down, or a reboot's leftovers
   * when the directory is not a tmpfs). `exists` is asked at the moment of
   * each decision. Returns the ids released.
   */
  reconcile(exists: (containerId: string) => boolean): string[] {
    return releaseGone(this.dir, /^([0-9a-f]{64})(\.keeper|\.once)?$/, exists, (id) => this.release(id));
  }

  private stopKeeper(containerId: string): void {
    const pidFile = `${this.fifoPath(containerId)}.keeper`;
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, "utf8"));
    try {
      // Only our keeper: a recycled pid running something else is left alone.
      if (pid > 0 && isKeeper(pid)) process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
    rmSync(pidFile, { force: true });
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
