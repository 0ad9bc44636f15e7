/**
 * Runs each contract against two daemons: the test double (always) and a
 * real portod when PORTO_SOCKET names its socket (otherwise that block is
 * reported as skipped). Against a real portod every container lives under a
 * unique `ct-<random>` prefix and is destroyed afterwards; portod itself is
 * never stopped or reconfigured.
 */
import { after, before, describe } from "node:test";
import { randomBytes } from "node:crypto";
import { EError } from "../../../gen/rpc_pb.js";
import { startPortoDouble, type PortoDouble } from "../../porto-double/index.js";
import type { ImageSeed } from "../../porto-double/index.js";
import { RawPorto } from "./raw-porto.js";

export interface Target {
  readonly kind: "double" | "portod";
  readonly socketPath: string;
  /** Unique per describe block: every container name starts with it. */
  readonly prefix: string;
  /** The double, when kind is "double". */
  readonly double: PortoDouble | undefined;
  /** A fresh connection, closed by the harness at the end. */
  connect(): Promise<RawPorto>;
  /** `<prefix>-<suffix>`, a top-level container name of this block. */
  name(suffix: string): string;
}

export interface ContractOptions {
  /** Images the double offers to pullDockerImage. */
  images?: ImageSeed[];
  /** Run only against the double (behaviour a real portod here cannot show, e.g. without registry access). */
  doubleOnly?: string;
}

export function contract(title: string, body: (t: () => Target) => void, options: ContractOptions = {}): void {
  for (const kind of ["double", "portod"] as const) {
    let skip: string | false = false;
    if (kind === "portod" && !process.env.PORTO_SOCKET) skip = "PORTO_SOCKET is not set: no real portod to check against";
    else if (kind === "portod" && options.doubleOnly) skip = options.doubleOnly;
    describe(`${title} [${kind}]`, { skip }, () => {
      let target: Target;
      let double: PortoDouble | undefined;
      const conns: RawPorto[] = [];
      before(async () => {
        if (kind === "double") double = await startPortoDouble({ images: options.images });
        const socketPath = double ? double.socketPath : process.env.PORTO_SOCKET!;
        const prefix = `ct-${randomBytes(4).toString("hex")}`;
        target = {
          kind,
          socketPath,
          prefix,
          double,
          async connect() {
            const c = await RawPorto.connect(socketPath);
            conns.push(c);
            return c;
          },
          name: (suffix) => `${prefix}-${suffix}`,
        };
      });
      after(async () => {
        if (target) await cleanup(target);
        await Promise.all(conns.map((c) => c.close()));
        await double?.close();
      });
      body(() => target);
    });
  }
}

/** Destroys every container and volume this block created (volumes carry the prefix in `private`). */
async function cleanup(t: Target): Promise<void> {
  const c = await RawPorto.connect(t.socketPath);
  try {
    const list = await c.call({ list: { mask: `${t.prefix}***` } });
    const names = (list.list?.name ?? []).sort((a, b) => a.length - b.length);
    for (const name of names) {
      const code = await c.code({ destroy: { name } });
      if (code !== EError.Success && code !== EError.ContainerDoesNotExist)
        process.stderr.write(`contract cleanup: destroy ${name}: ${EError[code]}\n`);
    }
    const vols = await c.call({ listVolumes: {} });
    for (const v of vols.volumeList?.volumes ?? []) {
      if (v.properties.some((p) => p.name === "private" && p.value === t.prefix))
        await c.raw({ unlinkVolume: { path: v.path, container: "***" } });
    }
  } finally {
    await c.close();
  }
}
