/**
 * Signal names and numbers. Three spellings meet here: the image's
 * StopSignal ("SIGTERM", "TERM", "15", "SIGRTMIN+3"), CRI's `Signal` enum
 * (its own numbering: SIGKILL is 13 there, so it is translated by name), and
 * the Linux x86-64 numbers Porto's `kill` takes.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Signal } from "../../gen/runtime/v1/api_pb.js";

/** Linux signal numbers by name without "SIG" (x86-64, arm64: the generic table). */
const NUMBERS: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
};

/** glibc's SIGRTMIN (the kernel's is 32; glibc keeps two for threads) and SIGRTMAX. */
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;
export const SIGTERM = 15;
export const SIGKILL = 9;

/**
 * A signal as Docker and containerd accept it in an image's StopSignal
 * (moby/sys/signal.ParseSignal): a number, or a name with or without "SIG" in
 * any case, including "RTMIN+n" and "RTMAX-n". Undefined when it is none of them.
 */
export function parseSignal(text: string): number | undefined {
  const s = text.trim();
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= SIGRTMAX ? n : undefined;
  }
  let name = s.toUpperCase();
  if (name.startsWith("SIG")) name = name.slice(3);
  const known = NUMBERS[name];
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)(?:([+-])([0-9]+))?$/.exec(name);
  if (!rt) return undefined;
  const base = rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
  const offset = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === "+" ? 1 : -1);
  // RTMIN-1 or RTMAX+1 are outside the real-time range, as moby refuses them.
  if ((rt[1] === "MIN" && offset < 0) || (rt[1] === "MAX" && offset > 0)) return undefined;
  const n = base + offset;
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
}

/** The name of a Linux signal number, "SIGTERM", "SIGRTMIN+3"; undefined for numbers that are none. */
export function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(NUMBERS)) {
    // The first spelling in the table is the canonical one (ABRT before IOT, CHLD before CLD, IO before POLL).
    if (num === n) return `SIG${name}`;
  }
  if (n === SIGRTMIN) return "SIGRTMIN";
  if (n === SIGRTMAX) return "SIGRTMAX";
  if (n > SIGRTMIN && n <= SIGRTMIN + 15) return `SIGRTMIN+${n - SIGRTMIN}`;
  if (n > SIGRTMIN + 15 && n < SIGRTMAX) return `SIGRTMAX-${SIGRTMAX - n}`;
  return undefined;
}

/**
 * CRI's Signal enum to a Linux number, by the enum's name (SIGRTMINPLUSn is
 * SIGRTMIN+n, SIGRTMAXMINUSn is SIGRTMAX-n). RUNTIME_DEFAULT and values newer
 * than our CRI copy give undefined.
 */
export function criSignalNumber(signal: Signal): number | undefined {
  if (signal === Signal.RUNTIME_DEFAULT) return undefined;
  const name = (Signal as unknown as Record<number, string | undefined>)[signal];
  if (name === undefined) return undefined;
  const rt = /^SIGRT(MIN|MAX)(?:(PLUS|MINUS)([0-9]+))?$/.exec(name);
  if (rt) return parseSignal(`RT${rt[1]}${rt[2] ? (rt[2] === "PLUS" ? "+" : "-") + rt[3] : ""}`);
  return parseSignal(name);
}

/** A Linux signal number as CRI's Signal enum (for ContainerStatus); RUNTIME_DEFAULT when it has no CRI name. */
export function criSignalOf(n: number): Signal {
  const name = signalName(n);
  if (name === undefined) return Signal.RUNTIME_DEFAULT;
  const criName = name.replace(/^SIGRTMIN\+/, "SIGRTMINPLUS").replace(/^SIGRTMAX-/, "SIGRTMAXMINUS");
  const value = (Signal as unknown as Record<string, number | undefined>)[criName];
  return value === undefined ? Signal.RUNTIME_DEFAULT : (value as Signal);
}

/**
 * The signal StopContainer sends first, as containerd picks it: the
 * container's stop_signal when set, else the image's StopSignal, else SIGTERM.
 * An image StopSignal that is not a signal fails CreateContainer, as it does
 * in containerd.
 */
export function stopSignal(containerSignal: Signal, imageStopSignal: string): number {
  const fromConfig = criSignalNumber(containerSignal);
  if (fromConfig !== undefined) return fromConfig;
  if (containerSignal !== Signal.RUNTIME_DEFAULT)
    throw new ConnectError(`stop_signal: unknown signal ${containerSignal}`, Code.InvalidArgument);
  if (imageStopSignal.trim() === "") return SIGTERM;
  const n = parseSignal(imageStopSignal);
  if (n === undefined)
    throw new ConnectError(`image config StopSignal: ${JSON.stringify(imageStopSignal)} is not a signal`, Code.InvalidArgument);
  return n;
}
