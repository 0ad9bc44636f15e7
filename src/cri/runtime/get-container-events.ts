/**
 * GetContainerEvents: a stream of container (and pod) lifecycle events with
 * the pod's and its containers' statuses, for kubelet's evented PLEG. The
 * events come from runtime/events.ts; this handler only ties one stream to
 * one subscription. The stream lasts until the client goes away or the shim
 * shuts down; a client that stops reading is cut off with ResourceExhausted.
 */
import type { ContainerEventResponse, GetEventsRequest } from "../../../gen/runtime/v1/api_pb.js";
import type { RuntimeDeps } from "../../runtime/deps.js";
import { containerEvents } from "../../runtime/events.js";

export async function* getContainerEvents(
  deps: RuntimeDeps,
  _req: GetEventsRequest,
  signal?: AbortSignal,
): AsyncGenerator<ContainerEventResponse> {
  const sub = containerEvents(deps).subscribe();
  const onAbort = () => sub.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    yield* sub;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    sub.close();
  }
}
