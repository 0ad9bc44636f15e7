/**
 * Terminals for containers created with `tty: true`.
 *
 * Porto allocates no terminal, and the terminal's master must outlive the
 * shim (conmon's job under CRI-O, the runc shim's under containerd): if the
 * shim held it, a shim restart would hang up the container's terminal. So
 * at StartContainer a small Perl holder (pty.ts explains why Perl) is started
 * detached in a session of its own (setsid), outside the container. It
 * - opens /dev/ptmx, unlocks it and reports the slave's path on fd 3; the
 *   shim opens the slave (O_NOCTTY) and hands it to portod as `/dev/fd/N`
 *   for stdin, stdout and stderr (portod re-opens the requesting client's
 *   descriptor and makes it the process' controlling terminal, as for exec);
 * - appends everything the terminal shows to `<id>.out`, which the CRI log
 *   follows as the container's stdout (src/logs: ContainerLogSpec.terminal),
 *   so tty output lands in the CRI log as stdout lines, as with containerd;
 * - keeps `<id>.out` bounded the way portod keeps its own output files: past
 *   `limit` bytes its head is cut, at a line start, leaving at least half the
 *   limit, and the bytes cut are counted in `<id>.state` (below), so the log
 *   pump keeps absolute positions exactly as with portod's stdout_offset;
 * - serves attachers on the unix socket `<id>.sock`: each gets what the
 *   terminal shows from the moment it connects, and sends frames of
 *   `type (1 byte) + length (4 bytes, big-endian) + payload`: `d` input for
 *   the terminal (dropped unless the container was created with stdin), `r` a
 *   window size (rows, cols as two 16-bit big-endian), `e` "my input ended";
 *   any number of attachers at once, and one leaving changes nothing else,
 *   except with stdin_once: the first end of input hangs the terminal up
 *   (the master is closed), as containerd's shim does, so the process sees
 *   its input end for good;
 * - exits when the master reports EIO (every slave descriptor closed: the
 *   container's processes are gone) or after hanging up, once the last of the
 *   output is in `<id>.out` and with attachers; `<id>.out` stays for the log
 *   pump until RemoveContainer (`release`) removes it.
 *
 * `<id>.state` is `<phase> <offset> <limit> [<offset after the cut>]`,
 * replaced atomically: phase `live`, `cutting` while the head is being cut
 * (the file's content is in motion; readers wait for `live`, which is what
 * makes a read checked against the offsets before and after it safe), and
 * `done` once the holder will write no more. `<id>.pid` names the holder for
 * as long as it runs.
 *
 * Nothing is kept in the shim's memory: after a restart the holder is found
 * by its paths, and start-up kills holders of containers that are gone
 * (`reconcile`). A slow attacher that lets more than 4 MiB pile up is
 * dropped, so it cannot hold the terminal (and the log) back; input that the
 * process does not read is held up to 1 MiB, then attachers are not read,
 * which pushes back on the client.
 *
 * Under systemd the holder must also leave the shim's cgroup: KillMode=mixed
 * (packaging/portoshim.service) kills whatever is left in the unit when the
 * shim stops, which would hang up every terminal at each restart. main.ts
 * passes a `launcher` (systemd-run --scope) that gives each holder a
 * transient scope of its own, as CRI-O does for conmon.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import type { Logger } from "pino";
import { STDOUT_LIMIT_BYTES } from "../logs/porto-stdio.js";
import type { TerminalFacts } from "../logs/container-log.js";
import type { StdioStreams } from "./exec-backend.js";
import { ExecError } from "./exec-backend.js";
import { releaseGone } from "./leftovers.js";

// ioctl numbers of the generic Linux ABI, as in pty.ts.
const HOLDER = String.raw`
use strict; use warnings; use Fcntl; use POSIX qw(:errno_h); use Socket;
my ($TIOCSPTLCK, $TIOCGPTN, $TIOCSWINSZ) = (0x40045431, 0x80045430, 0x5414);
$SIG{PIPE} = "IGNORE";
my ($dir, $base, $limit, $input, $once) = @ARGV;
# Paths relative to the directory: the socket's must fit a unix socket address whatever the directory.
chdir($dir) or die "chdir $dir: $!\n";
open(my $ctl, "+<&=3") or die "fd 3: $!\n";
sysopen(my $m, "/dev/ptmx", O_RDWR | O_NOCTTY) or die "open /dev/ptmx: $!\n";
ioctl($m, $TIOCSPTLCK, my $unlock = pack("i", 0)) or die "unlockpt: $!\n";
ioctl($m, $TIOCGPTN, my $n = pack("I", 0)) or die "ptsname: $!\n";
sysopen(my $out, "$base.out", O_WRONLY | O_APPEND | O_CREAT, 0600) or die "open $base.out: $!\n";
my ($size, $offset) = (-s $out, 0);
sub put {
  my ($ext, $text) = @_;
  my $f; my $ok = open($f, ">", "$base.$ext.new") && print($f $text) && close($f) && rename("$base.$ext.new", "$base.$ext");
  warn "cannot write $base.$ext: $!\n" unless $ok;
}
sub phase { put("state", "$_[0] $offset $limit" . (defined $_[1] ? " $_[1]" : "") . "\n"); }
phase("live");
socket(my $srv, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
unlink("$base.sock");
bind($srv, pack_sockaddr_un("$base.sock")) or die "bind $base.sock: $!\n";
chmod(0600, "$base.sock");
listen($srv, 64) or die "listen: $!\n";
put("pid", "$$\n");
syswrite($ctl, "/dev/pts/" . unpack("I", $n) . "\n");
close($ctl);
sub cut {
  my $drop = $size - int($limit / 2);
  sysopen(my $rw, "$base.out", O_RDWR) or return warn "cut $base.out: $!\n";
  my ($buf, $from) = ("", $drop > 16384 ? $drop - 16384 : 0);
  # Cut just after a newline, so what is kept starts with a whole line.
  if (sysseek($rw, $from, 0) && sysread($rw, $buf, $drop - $from)) { my $nl = rindex($buf, "\n"); $drop = $from + $nl + 1 if $nl >= 0; }
  phase("cutting", $offset + $drop);
  my ($r, $w) = ($drop, 0);
  while ($r < $size) {
    sysseek($rw, $r, 0) or last;
    my $k = sysread($rw, $buf, 1048576);
    last unless $k;
    sysseek($rw, $w, 0) or last;
    my $o = 0; while ($o < $k) { my $x = syswrite($rw, $buf, $k - $o, $o); last unless $x; $o += $x; }
    $r += $k; $w += $k;
  }
  truncate($rw, $size - $drop) or warn "truncate $base.out: $!\n";
  close($rw);
  ($offset, $size) = ($offset + $drop, $size - $drop);
  phase("live");
}
my %c; my ($pend, $buf, $hangup) = ("", "", 0);
sub drop { my $f = shift; close($c{$f}{h}); delete $c{$f}; }
sub shown {
  my $k = length($_[0]); my $o = 0;
  while ($o < $k) { my $x = syswrite($out, $_[0], $k - $o, $o); if (!defined $x) { warn "write $base.out: $!\n"; last; } $o += $x; }
  $size += $o;
  for my $f (keys %c) { $c{$f}{o} .= $_[0]; drop($f) if length($c{$f}{o}) > 4194304; }
  cut() if $size > $limit;
}
for my $h ($m, $srv) { fcntl($h, F_SETFL, fcntl($h, F_GETFL, 0) | O_NONBLOCK); }
until ($hangup) {
  my ($r, $w) = ("", "");
  vec($r, fileno($m), 1) = 1; vec($r, fileno($srv), 1) = 1;
  vec($w, fileno($m), 1) = 1 if $pend ne "";
  for my $f (keys %c) { vec($r, $f, 1) = 1 if length($pend) < 1048576; vec($w, $f, 1) = 1 if $c{$f}{o} ne ""; }
  if (select($r, $w, undef, undef) < 0) { next if $! == EINTR; last; }
  if (vec($r, fileno($m), 1)) {
    my $k = sysread($m, $buf, 65536);
    if (!defined $k) { last unless $! == EAGAIN || $! == EINTR; }
    elsif ($k == 0) { last; }
    else { shown($buf); }
  }
  if (vec($r, fileno($srv), 1)) {
    if (accept(my $h, $srv)) { fcntl($h, F_SETFL, fcntl($h, F_GETFL, 0) | O_NONBLOCK); $c{fileno($h)} = { h => $h, i => "", o => "" }; }
  }
  for my $f (keys %c) {
    my $cl = $c{$f};
    if (vec($w, $f, 1) && $cl->{o} ne "") {
      my $x = syswrite($cl->{h}, $cl->{o});
      if (defined $x) { substr($cl->{o}, 0, $x, ""); } elsif ($! != EAGAIN && $! != EINTR) { drop($f); next; }
    }
    next unless vec($r, $f, 1);
    my $k = sysread($cl->{h}, $buf, 65536);
    if (!defined $k) { drop($f) unless $! == EAGAIN || $! == EINTR; next; }
    if ($k == 0) { drop($f); next; }
    $cl->{i} .= $buf;
    while (length($cl->{i}) >= 5) {
      my ($t, $len) = unpack("aN", $cl->{i});
      last if length($cl->{i}) < 5 + $len;
      my $p = substr($cl->{i}, 5, $len); substr($cl->{i}, 0, 5 + $len, "");
      if ($t eq "d") { $pend .= $p if $input; }
      elsif ($t eq "r" && $len == 4) { my ($rows, $cols) = unpack("nn", $p); ioctl($m, $TIOCSWINSZ, my $ws = pack("S4", $rows, $cols, 0, 0)) if $rows && $cols; }
      elsif ($t eq "e") { $hangup = 1 if $input && $once; }
    }
  }
  if ($pend ne "" && vec($w, fileno($m), 1)) { my $x = syswrite($m, $pend); substr($pend, 0, $x, "") if defined $x; }
}
if ($hangup) {
  # The input that came before the end goes in first, for a moment at most.
  my $until = time + 2;
  while ($pend ne "" && time < $until) {
    my $w = ""; vec($w, fileno($m), 1) = 1;
    select(undef, $w, undef, 0.1);
    my $x = syswrite($m, $pend); substr($pend, 0, $x, "") if defined $x;
  }
}
# What the terminal still holds, then the master goes (a hang-up for whatever still has the slave).
while (1) { my $k = sysread($m, $buf, 65536); last unless $k; shown($buf); }
close($m);
phase("done");
unlink("$base.sock");
close($srv);
# Attachers get the rest of their output, for a few seconds at most.
my $until = time + 5;
while (%c && time < $until) {
  my $w = "";
  for my $f (keys %c) { if ($c{$f}{o} eq "") { drop($f); } else { vec($w, $f, 1) = 1; } }
  last unless %c;
  select(undef, $w, undef, 1);
  for my $f (keys %c) {
    next unless vec($w, $f, 1);
    my $x = syswrite($c{$f}{h}, $c{$f}{o});
    if (defined $x) { substr($c{$f}{o}, 0, $x, ""); } elsif ($! != EAGAIN && $! != EINTR) { drop($f); }
  }
}
drop($_) for keys %c;
unlink("$base.pid");
`;

/** How long a holder may take to report its terminal. */
const READY_TIMEOUT_MS = 10_000;
/** File names of a holder: `<64 hex id>.<ext>`. */
const HOLDER_FILE = /^([0-9a-f]{64})\.(out|state|sock|pid|err)(\.new)?$/;

export interface PreparedTty {
  /** The value for the container's stdin_path, stdout_path and stderr_path. */
  slavePath: string;
  /** The file the holder copies the terminal's output to: the container's stdout for the log pump. */
  outputPath: string;
  /** Call once the start request returned (whatever it returned): drops our slave descriptor. */
  started(): void;
}

export interface TerminalOptions {
  /** The container was created with stdin: attachers' input reaches the terminal. */
  stdin: boolean;
  /** stdin_once: the first attacher's end of input hangs the terminal up. */
  stdinOnce: boolean;
}

export interface TtyHoldersOptions {
  /** Where holders keep their socket, pid, state and output files (main.ts: <StateDir>/tty). */
  dir: string;
  /** The perl to run; default the one on PATH. */
  perl?: string;
  /** Bytes the output file may reach before its head is cut; default STDOUT_LIMIT_BYTES, as portod's files. */
  outputLimit?: number;
  /**
   * Words to start the holder through, given the container id (e.g.
   * `systemd-run --scope ...`); when that fails the holder is started
   * directly, with a warning.
   */
  launcher?: (containerId: string) => string[];
  logger?: Logger;
}

export class TtyHolders {
  private readonly limit: number;
  /** Absolute: holders chdir to it, and it names them in their command lines. */
  private readonly dir: string;

  constructor(private readonly options: TtyHoldersOptions) {
    this.limit = options.outputLimit ?? STDOUT_LIMIT_BYTES;
    this.dir = resolve(options.dir);
  }

  private base(containerId: string): string {
    return join(this.dir, containerId);
  }

  /** The holder's output file (whether or not it exists). */
  outputPath(containerId: string): string {
    return `${this.base(containerId)}.out`;
  }

  /** Whether the container was started with a terminal (its output stays until release). */
  owns(containerId: string): boolean {
    return existsSync(this.outputPath(containerId));
  }

  /** For StartContainer of a tty container: starts its holder and opens the slave. */
  async prepare(containerId: string, terminal: TerminalOptions): Promise<PreparedTty> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.release(containerId);
    const launcher = this.options.launcher?.(containerId) ?? [];
    let path: string;
    try {
      path = await this.startHolder(containerId, terminal, launcher);
    } catch (err) {
      if (launcher.length === 0) throw err;
      this.options.logger?.warn({ container: containerId, err: (err as Error).message }, "cannot start the terminal holder through its launcher; starting it directly");
      this.release(containerId);
      path = await this.startHolder(containerId, terminal, []);
    }
    let slaveFd: number;
    try {
      if (!/^\/dev\/pts\/\d+$/.test(path)) throw new Error(`the terminal holder reported ${JSON.stringify(path)}`);
      slaveFd = openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
    } catch (err) {
      this.release(containerId);
      throw err;
    }
    let open = true;
    return {
      slavePath: `/dev/fd/${slaveFd}`,
      outputPath: this.outputPath(containerId),
      started() {
        if (open) closeSync(slaveFd);
        open = false;
      },
    };
  }

  /** Runs one holder and waits for the slave's path it reports. */
  private async startHolder(containerId: string, terminal: TerminalOptions, launcher: string[]): Promise<string> {
    const base = this.base(containerId);
    const errFd = openSync(`${base}.err`, "w", 0o600);
    const argv = [
      ...launcher,
      this.options.perl ?? "perl",
      "-e",
      HOLDER,
      this.dir,
      containerId,
      String(this.limit),
      terminal.stdin ? "1" : "0",
      terminal.stdinOnce ? "1" : "0",
    ];
    const holder = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", errFd, "pipe"], detached: true });
    closeSync(errFd);
    const ctl = holder.stdio[3] as Socket;
    ctl.on("error", () => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<string>((resolve, reject) => {
        let text = "";
        ctl.on("data", (d: Buffer) => {
          text += d.toString();
          const nl = text.indexOf("\n");
          if (nl >= 0) resolve(text.slice(0, nl));
        });
        holder.once("error", (err) => reject(new Error(`cannot run the terminal holder (${argv[0]}): ${err.message}`)));
        holder.once("exit", () => reject(new Error(`the terminal holder failed: ${readText(`${base}.err`).trim() || "exited"}`)));
        timer = setTimeout(() => {
          holder.kill("SIGKILL");
          reject(new Error(`the terminal holder did not report its terminal within ${READY_TIMEOUT_MS / 1000} s`));
        }, READY_TIMEOUT_MS);
      });
    } finally {
      clearTimeout(timer);
      ctl.destroy();
      holder.removeAllListeners("exit");
      holder.unref();
    }
  }

  /** For RemoveContainer: stops the holder and removes its files. Idempotent. */
  release(containerId: string): void {
    const base = this.base(containerId);
    const pid = holderPid(this.dir, containerId);
    try {
      if (pid !== undefined) process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
    for (const ext of ["sock", "pid", "out", "err", "state", "pid.new", "state.new"]) rmSync(`${base}.${ext}`, { force: true });
  }

  /**
   * Start-up: releases the holders (and files) of containers that no longer
   * exist, e.g. removed while the shim was down or dropped by reconciliation.
   * `exists` is asked at the moment of each decision, so containers created
   * meanwhile are safe. Returns the ids released.
   */
  reconcile(exists: (containerId: string) => boolean): string[] {
    return releaseGone(this.dir, HOLDER_FILE, exists, (id) => this.release(id));
  }

  /**
   * For the log pump (ContainerLogManager's terminalFacts): the holder's count
   * of bytes cut from the head of `outputPath`, its limit, and whether more
   * output may come. Waits out a cut in progress.
   */
  async outputFacts(outputPath: string): Promise<TerminalFacts> {
    const base = outputPath.replace(/\.out$/, "");
    const running = () => holderPid(dirname(base), basename(base)) !== undefined;
    for (let waited = 0; ; waited++) {
      const s = parseState(await readFile(`${base}.state`, "utf8").catch(() => ""));
      if (!s) return { offset: 0, limit: this.limit, writing: false }; // never started, or released
      if (s.phase !== "cutting") return { offset: s.offset, limit: s.limit, writing: s.phase === "live" && running() };
      // A holder killed in the middle of a cut leaves it half done; what it was cutting to is the best guess.
      if (!running()) return { offset: s.next ?? s.offset, limit: s.limit, writing: false };
      if (waited >= 400) throw new Error("the terminal holder is still cutting its output file");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * Connects a client to the terminal until it leaves (`io.signal`) or the
   * container's processes are gone (the holder hangs up). Detaching leaves
   * the container running; other attachers are not affected. Terminal output
   * goes to stdout (also without a tty session: stderr then stays empty).
   */
  async attach(containerId: string, io: StdioStreams): Promise<void> {
    // Through the directory's descriptor: /proc/self/fd/N/<id>.sock fits a unix socket address
    // (107 bytes) however long the directory's own path is.
    let dirFd: number;
    try {
      dirFd = openSync(this.dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    } catch (err) {
      throw new ExecError(`container ${containerId} has no terminal to attach to: ${(err as Error).message}`, "not-running");
    }
    const sock = connect(`/proc/self/fd/${dirFd}/${containerId}.sock`);
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", (err) => reject(new ExecError(`container ${containerId} has no terminal to attach to: ${err.message}`, "not-running")));
      });
    } finally {
      closeSync(dirFd);
    }
    sock.on("error", () => undefined);
    const frame = (type: string, payload: Buffer = Buffer.alloc(0)): Buffer => {
      const head = Buffer.alloc(5);
      head.write(type, 0, "latin1");
      head.writeUInt32BE(payload.length, 1);
      return Buffer.concat([head, payload]);
    };
    const send = (type: string, payload?: Buffer) => {
      if (sock.writable) sock.write(frame(type, payload));
    };
    const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
    // The holder needs to hear when this attacher's input ends (stdin_once hangs up on it).
    let inputOpen = io.stdin !== undefined;
    const endInput = () => {
      if (!inputOpen) return;
      inputOpen = false;
      send("e");
    };
    let force: NodeJS.Timeout | undefined;
    const leave = () => {
      if (io.stdout) sock.unpipe(io.stdout);
      sock.resume();
      if (sock.writable) sock.end(inputOpen ? frame("e") : Buffer.alloc(0));
      inputOpen = false;
      // The holder drops us when it reads our end; a wedged one does not keep the session.
      force = setTimeout(() => sock.destroy(), 2000);
      force.unref();
    };
    io.signal.addEventListener("abort", leave, { once: true });
    if (io.signal.aborted) leave();
    if (io.stdout) sock.pipe(io.stdout, { end: false });
    else sock.resume();
    const onInput = (d: Buffer) => send("d", d);
    io.stdin?.on("data", onInput);
    io.stdin?.once("end", endInput);
    io.stdin?.once("close", endInput);
    void (async () => {
      if (!io.resize) return;
      try {
        for await (const size of io.resize) {
          if (!sock.writable) break;
          if (size.width > 0 && size.height > 0) {
            const p = Buffer.alloc(4);
            p.writeUInt16BE(Math.min(size.height, 65535), 0);
            p.writeUInt16BE(Math.min(size.width, 65535), 2);
            send("r", p);
          }
        }
      } catch {
        // the session ended
      }
    })();
    try {
      await closed;
    } finally {
      clearTimeout(force);
      io.signal.removeEventListener("abort", leave);
      io.stdin?.off("data", onInput);
      io.stdin?.off("end", endInput);
      io.stdin?.off("close", endInput);
      if (io.stdout) {
        sock.unpipe(io.stdout);
        if (!io.stdout.writableEnded) io.stdout.end();
      }
      if (io.stderr && !io.stderr.writableEnded) io.stderr.end();
    }
  }
}

interface HolderState {
  phase: "live" | "cutting" | "done";
  offset: number;
  limit: number;
  next?: number;
}

function parseState(text: string): HolderState | undefined {
  const m = /^(live|cutting|done) (\d+) (\d+)(?: (\d+))?\n$/.exec(text);
  if (!m) return undefined;
  return { phase: m[1] as HolderState["phase"], offset: Number(m[2]), limit: Number(m[3]), next: m[4] === undefined ? undefined : Number(m[4]) };
}

/** The pid of the holder of `containerId` in `dir` while it runs; a recycled pid running something else is not it. */
function holderPid(dir: string, containerId: string): number | undefined {
  const pid = Number(readText(join(dir, `${containerId}.pid`)).trim());
  if (!(pid > 0)) return undefined;
  try {
    // perl -e <script> <dir> <id> ...: our holder names both as arguments of its own.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`\0${dir}\0${containerId}\0`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A launcher under systemd for TtyHolders (`what` "tty") and ContainerStdio's
 * stdin keepers ("stdin"): each process in a transient scope of its own, out
 * of the shim's unit.
 */
export function systemdScopeLauncher(what: "tty" | "stdin" = "tty", systemdRun = "systemd-run"): (containerId: string) => string[] {
  return (containerId) => [
    systemdRun,
    "--scope",
    "--quiet",
    "--collect",
    // Unique: a scope of an earlier process of the same container may still be going away.
    `--unit=portoshim-${what}-${containerId.slice(0, 12)}-${randomBytes(3).toString("hex")}`,
    `--description=portoshim ${what === "tty" ? "terminal" : "stdin keeper"} of container ${containerId}`,
    "--",
  ];
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
