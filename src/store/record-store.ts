/**
 * Durable records of CRI objects, one JSON file per object under
 * Portoshim.StateDir/<kind>/<id>.json, kept in memory after start-up.
 *
 * Why files: Porto labels cannot hold CRI metadata (charset, 128-byte names,
 * 64 KiB values, 100 per container) and `private` holds 4096 bytes, while
 * annotations alone may reach 256 KiB of arbitrary UTF-8.
 *
 * Crash safety: a file is replaced atomically (write a temporary file, fsync,
 * rename over, fsync the directory), so a reader finds the old record or the
 * new one, never a torn one. Porto stays the source of truth for what exists:
 * callers write the record before (or while) creating the Porto container,
 * hand its id out only once both exist, and delete the record after destroying
 * the container; at start-up a record without a container (or a container
 * without a record) is what a crash left half-made, to be cleaned up. A record
 * never makes an object visible by itself.
 */
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

export interface RecordStoreOptions {
  /** Directory holding this kind's files; created if missing. */
  dir: string;
  /** Called with files that can't be parsed; they are renamed `*.corrupt`, never deleted. */
  onCorrupt?: (file: string, err: Error) => void;
}

export class RecordStore<T extends object> {
  private readonly records = new Map<string, T>();
  private loaded = false;

  constructor(private readonly options: RecordStoreOptions) {}

  /** Reads every record from disk. Call once before use. */
  async load(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.options.dir)) {
      const file = join(this.options.dir, name);
      if (name.includes(".tmp-")) {
        // A write that a crash interrupted before its rename: never a record.
        await unlink(file).catch(() => {});
        continue;
      }
      if (!name.endsWith(".json")) continue;
      try {
        this.records.set(name.slice(0, -".json".length), JSON.parse(await readFile(file, "utf8")) as T);
      } catch (err) {
        this.options.onCorrupt?.(file, err as Error);
        await rename(file, `${file}.corrupt`).catch(() => {});
      }
    }
    this.loaded = true;
  }

  get(id: string): T | undefined {
    this.assertLoaded();
    return this.records.get(id);
  }

  has(id: string): boolean {
    this.assertLoaded();
    return this.records.has(id);
  }

  ids(): IterableIterator<string> {
    this.assertLoaded();
    return this.records.keys();
  }

  values(): IterableIterator<T> {
    this.assertLoaded();
    return this.records.values();
  }

  get size(): number {
    return this.records.size;
  }

  /** Writes `record` durably, then makes it visible to `get`. */
  async put(id: string, record: T): Promise<void> {
    this.assertLoaded();
    const file = this.file(id);
    const tmp = `${file}.tmp-${randomBytes(4).toString("hex")}`;
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(JSON.stringify(record));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await this.syncDir();
    this.records.set(id, record);
  }

  /** Removes the record; absent records are fine (removal is retried by kubelet). */
  async delete(id: string): Promise<void> {
    this.assertLoaded();
    this.records.delete(id);
    try {
      await unlink(this.file(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    await this.syncDir();
  }

  private file(id: string): string {
    if (!/^[0-9a-zA-Z_-]+$/.test(id)) throw new Error(`invalid record id ${JSON.stringify(id)}`);
    return join(this.options.dir, `${id}.json`);
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.options.dir, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private assertLoaded(): void {
    if (!this.loaded) throw new Error("RecordStore used before load()");
  }
}
