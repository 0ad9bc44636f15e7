/**
 * A pseudo-terminal for `exec -t`, without a native addon.
 *
 * Porto does not allocate terminals: `portoctl shell` opens one itself
 * (posix_openpt, unlockpt) and passes the slave as `/dev/fd/N` for all three
 * streams; portod then makes it the process' controlling terminal
 * (TIOCSCTTY in stream.cpp). We do the same, but Node cannot unlock a pty or
 * set its size (both are ioctls), and node-pty is a native addon with an
 * install script. So a 40-line Perl helper does the ioctls and relays the
 * master: Perl is Essential on Debian and Ubuntu (perl-base), so it is there
 * wherever portod is packaged.
 *
 * The helper opens /dev/ptmx, unlocks it, reports the slave's path on fd 3,
 * then copies stdin to the master and the master to stdout, and applies
 * "rows cols" lines from fd 3 as TIOCSWINSZ. We open the slave by path with
 * O_NOCTTY (so it never becomes our controlling terminal and portod's
 * TIOCSCTTY succeeds) and close it once the process has it; the helper ends
 * when the master reports EIO, i.e. every slave descriptor is closed.
 * Master writes are non-blocking with a buffer, so a process that does not
 * read its input cannot wedge its output.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, constants as fsConstants, openSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import type { Socket } from "node:net";

// ioctl numbers of the generic Linux ABI (x86, arm64, ...).
const HELPER = String.raw`
use strict; use warnings; use Fcntl; use POSIX qw(:errno_h);
my ($TIOCSPTLCK, $TIOCGPTN, $TIOCSWINSZ) = (0x40045431, 0x80045430, 0x5414);
$SIG{PIPE} = "IGNORE";
open(my $ctl, "+<&=3") or die "fd 3: $!\n";
sysopen(my $m, "/dev/ptmx", O_RDWR | O_NOCTTY) or die "open /dev/ptmx: $!\n";
ioctl($m, $TIOCSPTLCK, my $unlock = pack("i", 0)) or die "unlockpt: $!\n";
ioctl($m, $TIOCGPTN, my $n = pack("I", 0)) or die "ptsname: $!\n";
syswrite($ctl, "/dev/pts/" . unpack("I", $n) . "\n");
fcntl($m, F_SETFL, fcntl($m, F_GETFL, 0) | O_NONBLOCK);
my ($pend, $inEof, $ctlEof, $cbuf, $buf) = ("", 0, 0, "", "");
for (;;) {
  my ($r, $w) = ("", "");
  vec($r, fileno($m), 1) = 1;
  vec($r, fileno($ctl), 1) = 1 unless $ctlEof;
  vec($r, 0, 1) = 1 if !$inEof && $pend eq "";
  vec($w, fileno($m), 1) = 1 if $pend ne "";
  if (select($r, $w, undef, undef) < 0) { next if $! == EINTR; last; }
  if (vec($r, fileno($m), 1)) {
    my $k = sysread($m, $buf, 65536);
    if (!defined $k) { last unless $! == EAGAIN || $! == EINTR; }
    elsif ($k == 0) { last; }
    else { my $o = 0; while ($o < $k) { my $x = syswrite(STDOUT, $buf, $k - $o, $o); exit 0 unless defined $x; $o += $x; } }
  }
  if (vec($r, 0, 1)) { my $k = sysread(STDIN, $buf, 65536); if (!$k) { $inEof = 1; } else { $pend .= $buf; } }
  if ($pend ne "" && vec($w, fileno($m), 1)) { my $x = syswrite($m, $pend); substr($pend, 0, $x, "") if defined $x; }
  if (!$ctlEof && vec($r, fileno($ctl), 1)) {
    my $k = sysread($ctl, $buf, 4096);
    if (!$k) { $ctlEof = 1; next; }
    $cbuf .= $buf;
    while ($cbuf =~ s/^(\d+) (\d+)\n//) { ioctl($m, $TIOCSWINSZ, my $ws = pack("S4", $1, $2, 0, 0)); }
  }
}
`;

export interface Pty {
  /** The slave's descriptor in this process, for `/dev/fd/N`; closed by started(). */
  slaveFd: number;
  /** Bytes typed into the terminal. */
  input: Writable;
  /** What the terminal shows; ends when every slave descriptor is closed. */
  output: Readable;
  /** Sets the window size (ignored once the helper is gone). */
  resize(cols: number, rows: number): void;
  /** Call once portod started the process: drops our slave descriptor. */
  started(): void;
  /** Kills the helper and closes what is open. */
  dispose(): void;
}

/** Allocates a terminal through the helper; `perl` defaults to the one on PATH. */
export async function openPty(options: { perl?: string } = {}): Promise<Pty> {
  const helper: ChildProcess = spawn(options.perl ?? "perl", ["-e", HELPER], {
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  const ctl = helper.stdio[3] as Socket;
  let stderr = "";
  helper.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const path = await new Promise<string>((resolve, reject) => {
    let text = "";
    const onData = (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf("\n");
      if (nl >= 0) {
        ctl.off("data", onData);
        resolve(text.slice(0, nl));
      }
    };
    ctl.on("data", onData);
    helper.once("error", (err) => reject(new Error(`cannot run the terminal helper (perl): ${err.message}`)));
    helper.once("exit", () => reject(new Error(`the terminal helper failed: ${stderr.trim() || "exited"}`)));
  });
  let slaveFd = -1;
  try {
    if (!/^\/dev\/pts\/\d+$/.test(path)) throw new Error(`the terminal helper reported ${JSON.stringify(path)}`);
    slaveFd = openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
  } catch (err) {
    helper.kill("SIGKILL");
    throw err;
  }
  let slaveOpen = true;
  const closeSlave = () => {
    if (!slaveOpen) return;
    slaveOpen = false;
    closeSync(slaveFd);
  };
  ctl.on("error", () => undefined);
  helper.stdin!.on("error", () => undefined);
  return {
    slaveFd,
    input: helper.stdin!,
    output: helper.stdout!,
    resize(cols, rows) {
      if (ctl.writable && cols > 0 && rows > 0) ctl.write(`${Math.min(rows, 65535)} ${Math.min(cols, 65535)}\n`);
    },
    started: closeSlave,
    dispose() {
      closeSlave();
      ctl.destroy();
      if (helper.exitCode === null && helper.signalCode === null) helper.kill("SIGKILL");
    },
  };
}
