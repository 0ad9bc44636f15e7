/**
 * StartContainer: Porto starts the created container's process. Only a
 * container that was created and never started may be started, in a pod that
 * is still ready. When Porto cannot start it (no such binary, ...), the
 * failure is recorded: the container then reads as exited with reason
 * StartError, exit code 128 and Porto's message, as containerd reports it.
 *
 * A container created with tty gets a terminal whose master a holder outside
 * the shim keeps (src/streaming/tty-holder.ts); its slave becomes the
 * process' stdin, stdout and stderr, and the CRI log follows the holder's
 * copy of what the terminal shows, as stdout. One created with stdin (and no
 * tty) reads a FIFO attach can feed. Both are set up right before the start.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ContainerEventType, ContainerState, StartContainerResponseSchema } from "../../../gen/runtime/v1/api_pb.js";
import type { StartContainerRequest, StartContainerResponse } from "../../../gen/runtime/v1/api_pb.js";
import { containerPortoName } from "../../mapping/porto-names.js";
import { isPortoError } from "../../porto/errors.js";
import { containerFacts } from "../../runtime/container-state.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { containerLockKey, requireContainer } from "../../runtime/lookup.js";
import { nowNs } from "../../runtime/records.js";
import { emitContainerEvent } from "../../runtime/events.js";
import { containerLogSpec } from "../../runtime/container-log-spec.js";
import type { PreparedTty, TerminalOptions } from "../../streaming/tty-holder.js";

export async function startContainer(deps: RuntimeDeps, req: StartContainerRequest): Promise<StartContainerResponse> {
  const { state } = deps;
  const id = requireContainer(state, req.containerId).record.id;
  await state.locks.run(containerLockKey(id), async () => {
    const entry = state.container(id);
    if (!entry) throw new ConnectError(`container ${id} not found`, Code.NotFound);
    const { record } = entry;
    const name = containerPortoName(record.podId, id);
    const facts = await state.portoFacts([name]);
    const current = containerFacts(record, facts.get(name)).state;
    if (current !== ContainerState.CONTAINER_CREATED) {
      throw new ConnectError(
        `container ${id} is ${ContainerState[current].replace("CONTAINER_", "").toLowerCase()}: only a created container can be started`,
        Code.FailedPrecondition,
      );
    }
    if (state.pod(record.podId)?.record.state !== "ready") {
      throw new ConnectError(`pod sandbox ${record.podId} of container ${id} is not ready`, Code.FailedPrecondition);
    }
    const { tty: wantsTty, stdin: wantsStdin, stdinOnce } = entry.config;
    const tty = wantsTty && deps.stdio ? await prepareTerminal(deps, id, { stdin: wantsStdin, stdinOnce }) : undefined;
    const stdin = !tty && wantsStdin && deps.stdio ? await deps.stdio.prepareStdin(id, stdinOnce) : undefined;
    let updated = record;
    try {
      if (tty) {
        // Recorded before the process can write: a shim restarted right after the start logs the right file.
        updated = { ...record, ttyOutputPath: tty.outputPath };
        await state.updateContainer(updated);
        const slave = tty.slavePath;
        await deps.porto.updateFromSpec({ name, stdinPath: slave, stdoutPath: slave, stderrPath: slave });
      }
      if (stdin) await deps.porto.setProperty(name, "stdin_path", stdin.stdinPath);
      await deps.porto.start(name);
    } catch (err) {
      // Porto said no (or could not be asked): the process never ran.
      if (isPortoError(err)) {
        await state.updateContainer({ ...updated, startError: { message: err.portoMessage || err.message, atNs: nowNs().toString() } });
      }
      throw err;
    } finally {
      stdin?.started();
      tty?.started();
    }
    await state.updateContainer({ ...updated, startedAtNs: nowNs().toString() });
    emitContainerEvent(state, { type: ContainerEventType.CONTAINER_STARTED_EVENT, podId: record.podId, containerId: id });
    // The CRI log follows portod's stdout/stderr files (or the terminal's copy) from now on; its file
    // exists when we answer. A log that cannot be set up must not fail a container that runs.
    await deps.logs?.start(containerLogSpec(updated)).catch((err: unknown) => {
      deps.logger.warn({ container: id, err: (err as Error).message }, "cannot start the container's log");
    });
  });
  return create(StartContainerResponseSchema);
}

/** The terminal for a tty container; a container that asked for one does not start without it. */
async function prepareTerminal(deps: RuntimeDeps, id: string, terminal: TerminalOptions): Promise<PreparedTty> {
  try {
    return await deps.stdio!.prepareTty(id, terminal);
  } catch (err) {
    throw new ConnectError(`cannot give container ${id} a terminal: ${(err as Error).message}`, Code.Internal);
  }
}
