/**
 * The CRI log format kubelet, `kubectl logs` and `crictl logs` read:
 *
 *   <RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n
 *
 * Byte for byte what containerd's CRI logger writes (internal/cri/io/logger.go
 * redirectLogs), so every reader that accepts containerd's files accepts ours:
 * - a line ends at `\n`; a `\r\n` ending is stripped as well (containerd's
 *   readLine drops both), any other `\r` stays in the content;
 * - content longer than `maxLineBytes` is cut into P lines of exactly
 *   `maxLineBytes` bytes followed by an F line with the rest; a line of exactly
 *   `maxLineBytes` bytes is a single F line, an empty line an F line with no
 *   content;
 * - output that ends without `\n` when the stream ends (the container exited)
 *   becomes P lines: containerd writes its leftover at EOF as partial, and
 *   kubelet prints a P line without adding a newline, so `printf abc` reads
 *   back as `abc` and not `abc\n`. Nothing is written for an empty leftover;
 * - bytes are copied as they are: invalid UTF-8, NULs and escapes pass through
 *   (kubelet splits on `\n` and on the first three spaces only).
 *
 * Pure: the caller reads the container's output and writes what this returns.
 * Nothing is kept between calls. An unterminated tail that may still grow is
 * left unconsumed and handed in again with the next call, so a crash can never
 * lose or duplicate the part of a line that was already read.
 */

/** The two streams a CRI log line can name. */
export type LogStream = "stdout" | "stderr";

/** kubelet's and containerd's default line limit (max_container_log_line_size). */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAG_FULL = 0x46; // F
const TAG_PARTIAL = 0x50; // P

/** Options of one formatting call. */
export interface FormatOptions {
  stream: LogStream;
  /** The RFC3339Nano text put on every line this call writes (see formatRfc3339Nano). */
  timestamp: string;
  /** Longest content of one line; longer lines become P partials ending in an F. */
  maxLineBytes: number;
  /**
   * The stream has ended (the container exited): an unterminated tail is
   * written as P lines now instead of being left for a later call.
   */
  final: boolean;
}

export interface FormatResult {
  /** Input bytes now represented in `out` (the rest must be handed in again). */
  consumed: number;
  /** Bytes of `out` filled. */
  written: number;
  /** CRI lines written. */
  lines: number;
}

/** The largest line `formatCriLines` can write: `out` must hold at least this. */
export function maxCriLineBytes(options: Pick<FormatOptions, "stream" | "timestamp" | "maxLineBytes">): number {
  return Buffer.byteLength(options.timestamp) + options.stream.length + 4 + options.maxLineBytes + 1;
}

/**
 * Turns container output into CRI log lines in `out`. Stops early when `out`
 * is full (call again with `input.subarray(consumed)`), and leaves an
 * unterminated tail unconsumed unless `final` (or unless it is longer than a
 * line may be, in which case its full-size P chunks are written). `input` must
 * begin where a line or a P chunk begins: where the previous call stopped.
 */
export function formatCriLines(input: Uint8Array, out: Uint8Array, options: FormatOptions): FormatResult {
  const max = options.maxLineBytes;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxLineBytes must be a positive integer, not ${max}`);
  if (out.length < maxCriLineBytes(options)) throw new RangeError("output buffer smaller than one CRI line");
  const header = Buffer.from(`${options.timestamp} ${options.stream} `, "latin1");
  const hl = header.length;
  let written = 0;
  let lines = 0;

  /** Writes one line of input[start, end); false when `out` has no room for it. */
  const emit = (tag: number, start: number, end: number): boolean => {
    const need = hl + 2 + (end - start) + 1;
    if (written + need > out.length) return false;
    out.set(header, written);
    written += hl;
    out[written++] = tag;
    out[written++] = SPACE;
    out.set(input.subarray(start, end), written);
    written += end - start;
    out[written++] = NL;
    lines++;
    return true;
  };

  let pos = 0;
  while (pos < input.length) {
    const nl = input.indexOf(NL, pos);
    if (nl < 0) {
      // An unterminated tail. A trailing \r may be the first half of \r\n, so
      // it does not count towards the length that forces a partial.
      const end = input.length;
      if (options.final) {
        while (pos < end) {
          const stop = Math.min(end, pos + max);
          if (!emit(TAG_PARTIAL, pos, stop)) return { consumed: pos, written, lines };
          pos = stop;
        }
      } else {
        const countable = end - (input[end - 1] === CR ? 1 : 0);
        while (countable - pos > max) {
          if (!emit(TAG_PARTIAL, pos, pos + max)) return { consumed: pos, written, lines };
          pos += max;
        }
      }
      break;
    }
    const contentEnd = nl > pos && input[nl - 1] === CR ? nl - 1 : nl;
    while (contentEnd - pos > max) {
      if (!emit(TAG_PARTIAL, pos, pos + max)) return { consumed: pos, written, lines };
      pos += max;
    }
    if (!emit(TAG_FULL, pos, contentEnd)) return { consumed: pos, written, lines };
    pos = nl + 1;
  }
  return { consumed: pos, written, lines };
}

/** formatCriLines over all of `input` at once, for tests and small inputs. */
export function formatCriLog(input: Uint8Array, options: FormatOptions): { output: Buffer; consumed: number } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const out = Buffer.alloc(Math.max(64 * 1024, maxCriLineBytes(options)));
  for (;;) {
    const r = formatCriLines(input.subarray(offset), out, options);
    chunks.push(Buffer.from(out.subarray(0, r.written)));
    offset += r.consumed;
    if (r.written === 0 || offset >= input.length) break;
  }
  return { output: Buffer.concat(chunks), consumed: offset };
}

/**
 * Go's time.RFC3339Nano in UTC, as containerd writes it: nine fractional
 * digits with trailing zeros dropped (and the dot too when none remain),
 * `Z` for the zone. `2024-05-01T10:00:00.5Z`, `2024-05-01T10:00:00Z`.
 */
export function formatRfc3339Nano(epochNs: bigint): string {
  const ns = ((epochNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const seconds = (epochNs - ns) / 1_000_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  const base = iso.slice(0, 19);
  if (ns === 0n) return `${base}Z`;
  return `${base}.${ns.toString().padStart(9, "0").replace(/0+$/, "")}Z`;
}
