/**
 * Container logs in the CRI format: what the lifecycle and the CRI handlers
 * import. See container-log-manager.ts for when to call what, and
 * porto-stdio.ts for the Porto properties a container needs.
 */
export { ContainerLogManager, ContainerNotRunningError } from "./container-log-manager.js";
export type { ContainerLogManagerOptions, LiveContainer, LogsPorto } from "./container-log-manager.js";
export type { ContainerLogSpec } from "./log-record.js";
export { terminalLogSpec } from "./log-record.js";
export type { LogCounters, LogTuning, TerminalFacts } from "./container-log.js";
export { PORTO_WORK_DIR, STDOUT_LIMIT_BYTES, portoStdioPaths, stdioPortoProperties, stdioSpec } from "./porto-stdio.js";
export { DEFAULT_MAX_LINE_BYTES, formatCriLines, formatCriLog, formatRfc3339Nano } from "./cri-log-format.js";
export type { FormatOptions, FormatResult, LogStream } from "./cri-log-format.js";
