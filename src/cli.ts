/** The executable: runs main() with the command line. bin/portoshim starts this file. */
import { main } from "./main.js";
import { useNodeTextEncoding } from "./text-encoding.js";

useNodeTextEncoding();

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`portoshim: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
