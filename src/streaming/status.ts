/**
 * How a remote command's outcome is written on the error stream, per
 * protocol version, as kubelet writes it (remotecommand ServeExec/ServeAttach):
 *
 * - v4 and v5 (and the v4/v5 WebSocket protocols): a JSON metav1.Status,
 *   Success, or Failure with reason NonZeroExitCode and the code in
 *   details.causes[{reason: "ExitCode", message: "<n>"}], or an internal error.
 * - v1 to v3: nothing on success, the error's text otherwise (clients of
 *   those versions cannot learn an exit code).
 */

export type CommandOutcome = { kind: "exit"; code: number } | { kind: "error"; message: string };

interface StatusCause {
  reason?: string;
  message?: string;
}

interface MetaStatus {
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: { causes: StatusCause[] };
  code?: number;
}

export function metaStatus(outcome: CommandOutcome): MetaStatus {
  if (outcome.kind === "exit" && outcome.code === 0) return { metadata: {}, status: "Success" };
  if (outcome.kind === "exit") {
    return {
      metadata: {},
      status: "Failure",
      message: `command terminated with non-zero exit code: command terminated with exit code ${outcome.code}`,
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: String(outcome.code) }] },
    };
  }
  const message = `error executing command in container: ${outcome.message}`;
  return {
    metadata: {},
    status: "Failure",
    message: `Internal error occurred: ${message}`,
    reason: "InternalError",
    details: { causes: [{ message }] },
    code: 500,
  };
}

/** The bytes for the error stream; empty means write nothing. */
export function encodeOutcome(outcome: CommandOutcome, jsonStatus: boolean): Buffer {
  const status = metaStatus(outcome);
  if (jsonStatus) return Buffer.from(JSON.stringify(status));
  if (status.status === "Success") return Buffer.alloc(0);
  return Buffer.from(status.message ?? "");
}
