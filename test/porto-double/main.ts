/**
 * CLI: `node --import tsx test/porto-double/main.ts --socket PATH [--images FILE.json]`
 * runs the double until SIGINT/SIGTERM. FILE.json holds an array of ImageSeed.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startPortoDouble, type ImageSeed } from "./index.js";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    images: { type: "string" },
    "work-dir": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help || !values.socket) {
  process.stderr.write("usage: main.ts --socket PATH [--images SEEDS.json] [--work-dir DIR]\n");
  process.exit(values.help ? 0 : 2);
}

const images = values.images ? (JSON.parse(readFileSync(values.images, "utf8")) as ImageSeed[]) : [];
const double = await startPortoDouble({ socketPath: values.socket, images, workDir: values["work-dir"] });
process.stderr.write(`porto double listening on ${double.socketPath}\n`);

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    void double.close().then(() => process.exit(0));
  });
}
