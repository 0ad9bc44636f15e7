/**
 * Where a container's CRI log reads its output from, decided from its record
 * alone, so StartContainer and a restarted shim's recovery agree: portod's
 * stdout/stderr files, or for a container started with a terminal the
 * holder's copy of what the terminal shows (all of it stdout).
 */
import { containerPortoName } from "../mapping/porto-names.js";
import { terminalLogSpec } from "../logs/index.js";
import type { LiveContainer } from "../logs/index.js";
import type { ContainerRecord } from "./records.js";

export function containerLogSpec(record: ContainerRecord): LiveContainer {
  return {
    containerId: record.id,
    portoName: containerPortoName(record.podId, record.id),
    logPath: record.logPath,
    started: record.startedAtNs !== undefined,
    ...(record.ttyOutputPath === undefined ? {} : terminalLogSpec(record.ttyOutputPath)),
  };
}
