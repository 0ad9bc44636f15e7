/**
 * ExecBackend on Porto.
 *
 * Exec runs the command as a Porto child of the container with isolate=false,
 * which shares the container's root, mounts and PID, IPC, UTS and network
 * namespaces (this is how `portoctl shell` gets "inside" a container); it is
 * in its own cgroup nested in the container's, so the container's limits
 * apply; it gets the container's user, group and capabilities (copied),
 * environment and working directory (inherited through isolate=false) and
 * seccomp profile (portod applies the nearest ancestor's). argv runs as is:
 * no shell, so images without one work. Its stdio are FIFOs the shim holds
 * (fifo-stdio.ts) or a terminal (pty.ts), handed to portod as /dev/fd/N.
 *
 * The child is weak and created on a connection of its own, so if the shim
 * dies portod destroys it, killing the process, and nothing leaks. The exit
 * code is portod's exit_code (128+N for a signal, 137 for the OOM killer);
 * there is no time limit. A client that goes away gets the process killed.
 * The call returns only after the process is dead and its output has been
 * read to the end (portod kills what is left in the child container when its
 * main process exits, which closes every writer).
 */
import { randomBytes } from "node:crypto";
import type { Duplex, Readable, Writable } from "node:stream";
import type { Logger } from "pino";
import type { PortoClient } from "../porto/client.js";
import { isPortoError } from "../porto/errors.js";
import { EError } from "../../gen/rpc_pb.js";
import { ExecError } from "./exec-backend.js";
import type { ExecBackend, StdioStreams } from "./exec-backend.js";
import { openFifoStdio } from "./fifo-stdio.js";
import type { FifoStdio } from "./fifo-stdio.js";
import type { ContainerLocator } from "./locator.js";
import { NetnsDialer } from "./netns-dial.js";
import { openPty } from "./pty.js";
import { bridge } from "./bridge.js";
import type { Pty } from "./pty.js";
import type { AttachBackend } from "./attach.js";

export interface PortoExecOptions {
  porto: PortoClient;
  locator: ContainerLocator;
  /** Attach to main processes; without it Attach answers that it is unavailable. */
  attach?: AttachBackend;
  /** Directory for short-lived FIFOs and bridge sockets; default the system temp directory. */
  runDir?: string;
  /** How long output may trail the process' death before it is cut; default 10 s. */
  outputGraceMs?: number;
  logger?: Logger;
  /** Programs, for tests: perl for terminals, nsenter for port forwarding. */
  perl?: string;
  nsenter?: string;
}

/** How long a terminal exec waits for the client's first window size before starting. */
const FIRST_SIZE_WAIT_MS = 100;

/** CRI exit code from portod's exit_code: 0-255, -N for signal N, -99 for the OOM killer. */
export function criExitCode(portoExitCode: number): number {
  if (portoExitCode === -99) return 137;
  if (portoExitCode < 0) return 128 + -portoExitCode;
  return portoExitCode;
}

export class PortoExecBackend implements ExecBackend {
  private readonly porto: PortoClient;
  private readonly locator: ContainerLocator;
  private readonly dialer: NetnsDialer;
  private readonly log: Logger | undefined;

  constructor(private readonly options: PortoExecOptions) {
    this.porto = options.porto;
    this.locator = options.locator;
    this.log = options.logger?.child({ component: "exec" });
    this.dialer = new NetnsDialer({ dir: options.runDir, nsenter: options.nsenter });
  }

  async exec(containerId: string, argv: string[], io: StdioStreams): Promise<number> {
    if (argv.length === 0 || argv[0] === "") throw new ExecError("the command is empty", "invalid");
    const target = await this.locator.container(containerId);
    const props = await this.properties(target.portoName, ["state", "user", "group", "capabilities", "capabilities_ambient"]);
    if (props.state !== "running") {
      throw new ExecError(`container ${target.id} is not running (Porto state ${props.state})`, "not-running");
    }
    const name = `${target.portoName}/exec-${randomBytes(6).toString("hex")}`;
    const session = this.porto.session();
    let fifo: FifoStdio | undefined;
    let pty: Pty | undefined;
    const outputs: Promise<void>[] = [];
    try {
      let paths: { stdinPath: string; stdoutPath: string; stderrPath: string };
      if (io.tty) {
        pty = await openPty({ perl: this.options.perl });
        const tty = `/dev/fd/${pty.slaveFd}`;
        paths = { stdinPath: tty, stdoutPath: tty, stderrPath: tty };
        const p = pty;
        if (io.resize) {
          // Clients send the size right after opening the stream: waiting a moment for it lets the
          // program start with the right size instead of 0x0 (it would get SIGWINCH soon after).
          let first!: () => void;
          const sized = new Promise<void>((resolve) => (first = resolve));
          void consumeResizes(io.resize, (w, h) => {
            p.resize(w, h);
            first();
          });
          await Promise.race([sized, new Promise((r) => setTimeout(r, FIRST_SIZE_WAIT_MS))]);
        }
      } else {
        fifo = await openFifoStdio({
          stdin: io.stdin !== undefined,
          stdout: io.stdout !== undefined,
          stderr: io.stderr !== undefined,
          dir: this.options.runDir,
        });
        paths = fifo;
      }
      await session.createFromSpec({
        name,
        weak: true,
        isolate: false,
        commandArgv: { argv },
        stdinPath: paths.stdinPath,
        stdoutPath: paths.stdoutPath,
        stderrPath: paths.stderrPath,
        user: props.user,
        group: props.group,
        // portod 5.3.59 gives an isolate=false child its default set whatever the parent's (a
        // container with every capability dropped would get a8ec77fb in exec); set explicitly it
        // gets exactly them (contract exec.test.ts). Seccomp needs nothing: portod applies the
        // nearest ancestor's profile.
        capabilities: capabilityList(props.capabilities),
        capabilitiesAmbient: capabilityList(props.capabilities_ambient),
        // containerd sets TERM for a terminal exec; everything else comes from the container.
        env: io.tty ? { var: [{ name: "TERM", value: "xterm" }] } : undefined,
      });
      if (io.signal.aborted) throw new ExecError("the client went away", "internal");
      try {
        await session.start(name);
      } catch (err) {
        throw new ExecError(`cannot start ${JSON.stringify(argv[0])}: ${portoMessage(err)}`, "internal", { cause: err });
      }
      pty?.started();
      fifo?.started();

      if (pty) {
        if (io.stdin) pipeQuietly(io.stdin, pty.input, false);
        outputs.push(copyOut(pty.output, io.stdout));
      } else if (fifo) {
        if (io.stdin && fifo.stdin) pipeQuietly(io.stdin, fifo.stdin, true);
        if (fifo.stdout) outputs.push(copyOut(fifo.stdout, io.stdout));
        if (fifo.stderr) outputs.push(copyOut(fifo.stderr, io.stderr));
      }

      const kill = () => void this.porto.kill(name, 9).catch(() => undefined);
      io.signal.addEventListener("abort", kill, { once: true });
      try {
        await session.wait([name]);
      } finally {
        io.signal.removeEventListener("abort", kill);
      }
      const exit = await this.properties(name, ["exit_code"]);
      await settleWithin(Promise.all(outputs), this.options.outputGraceMs ?? 10_000, () => {
        this.log?.warn({ container: name }, "exec output still open after the process died; cutting it");
        fifo?.dispose();
        pty?.dispose();
      });
      return criExitCode(Number(exit.exit_code));
    } catch (err) {
      if (err instanceof ExecError) throw err;
      if (isPortoError(err, EError.ContainerDoesNotExist)) {
        throw new ExecError(`container ${target.id} is gone`, "not-found", { cause: err });
      }
      throw new ExecError(portoMessage(err), "internal", { cause: err });
    } finally {
      await session.destroy(name).catch(() => undefined);
      session.close();
      fifo?.dispose();
      pty?.dispose();
    }
  }

  async attach(containerId: string, io: StdioStreams): Promise<void> {
    if (!this.options.attach) throw new ExecError("attach is not available", "internal");
    const target = await this.locator.container(containerId);
    return this.options.attach.attach(target, io);
  }

  async portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void> {
    const pod = await this.locator.pod(podSandboxId);
    const props = await this.properties(pod.portoName, ["state", "root_pid"]);
    const pid = Number(props.root_pid);
    if (!(pid > 0)) throw new ExecError(`pod sandbox ${pod.id} is not running (Porto state ${props.state})`, "not-running");
    const tcp = await this.dialer.dial(pid, port);
    await bridge(stream, tcp);
  }

  /** Stops port-forward bridges. */
  close(): void {
    this.dialer.close();
  }

  private async properties(name: string, props: string[]): Promise<Record<string, string>> {
    let values;
    try {
      values = (await this.porto.get([name], props)).get(name);
    } catch (err) {
      throw new ExecError(portoMessage(err), "internal", { cause: err });
    }
    const out: Record<string, string> = {};
    for (const p of props) {
      const v = values?.get(p);
      if (!v) continue;
      if ("error" in v) {
        if (v.error.code === EError.ContainerDoesNotExist) throw new ExecError(`${name} does not exist`, "not-found");
        continue; // e.g. root_pid of a stopped container
      }
      out[p] = v.value;
    }
    return out;
  }
}

/** portod's "A;B;C" capability text as a spec field; undefined leaves the default. */
function capabilityList(text: string | undefined): { cap: string[] } | undefined {
  if (text === undefined) return undefined;
  return { cap: text.split(";").filter((c) => c !== "") };
}

function portoMessage(err: unknown): string {
  if (isPortoError(err)) return err.portoMessage || err.message;
  return err instanceof Error ? err.message : String(err);
}

async function consumeResizes(sizes: AsyncIterable<{ width: number; height: number }>, apply: (w: number, h: number) => void) {
  try {
    for await (const s of sizes) apply(s.width, s.height);
  } catch {
    // the session ended
  }
}

/** Copies client input to the process; an input the process stopped reading is dropped quietly. */
function pipeQuietly(from: Readable, to: Writable, end: boolean): void {
  to.on("error", () => from.unpipe(to));
  from.on("error", () => undefined);
  from.pipe(to, { end });
}

/** Copies process output to the client until the process' side ends; resolves when it is all written. */
function copyOut(from: Readable, to: Writable | undefined): Promise<void> {
  return new Promise((resolve) => {
    from.on("error", () => resolve());
    if (!to) {
      from.resume();
      from.once("end", () => resolve());
      from.once("close", () => resolve());
      return;
    }
    to.on("error", () => {
      from.unpipe(to);
      from.resume();
    });
    from.once("end", () => {
      if (to.writableFinished || to.destroyed) return resolve();
      to.once("finish", () => resolve());
      to.once("close", () => resolve());
    });
    from.once("close", () => {
      if (!from.readableEnded) resolve();
    });
    from.pipe(to);
  });
}

/** Waits for `p`, or calls `onLate` after `ms` and stops waiting. */
async function settleWithin(p: Promise<unknown>, ms: number, onLate: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onLate();
      resolve();
    }, ms);
  });
  await Promise.race([p, late]);
  clearTimeout(timer);
}
