/**
 * The Porto client the CRI handlers use: typed calls over a connection pool.
 *
 * Every method builds a generated request message, sends it, turns an error
 * reply into a PortoError and returns the generated reply message (or the one
 * part of it that matters). Optional request fields the caller leaves out stay
 * unset on the wire: in proto2 an explicit empty value means something (an
 * empty `prev_value` in SetLabel is a compare-and-set against "").
 */

import { create } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import {
  EError,
  TContainerGetResponse_TContainerGetValueResponseSchema,
  TContainerRequestSchema,
  TSetLabelResponseSchema,
} from "../../gen/rpc_pb.js";
import type {
  TContainer,
  TContainerResponse,
  TContainerSpecSchema,
  TContainerWaitResponse,
  TDockerImage,
  TFindLabelResponse_TFindLabelEntry,
  TGetSystemResponse,
  TListContainersFieldOptionsSchema,
  TListContainersFilterSchema,
  TSetLabelResponse,
  TVersionResponse,
  TVolumeDescription,
  TVolumeSpec,
  TVolumeSpecSchema,
} from "../../gen/rpc_pb.js";
import { PortoError, isPortoError, readEnumField, responseError } from "./errors.js";
import { subscribe } from "./events.js";
import type { SubscribeOptions, Subscription } from "./events.js";
import { DEFAULT_SOCKET_PATH, PortoPool } from "./pool.js";
import type { PoolOptions, PortoTransport } from "./pool.js";
import { requestMethod } from "./request.js";
import { PortoSession } from "./session.js";

/** Deadline of ordinary calls unless configured (Porto.SocketTimeout): 5 minutes, as libporto. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** Extra time for volume and image-store work, as libporto's disk timeout: 15 minutes. */
export const DEFAULT_DISK_TIMEOUT_MS = 15 * 60_000;

/** Options of a client. */
export interface PortoClientOptions extends PoolOptions {
  /** Deadline of ordinary calls in ms (config Porto.SocketTimeout); 0 for none. Default 5 minutes. */
  timeoutMs?: number;
  /** Added to `timeoutMs` for calls that create or remove volumes or images. Default 15 minutes. */
  diskTimeoutMs?: number;
  /** Debug-logs each call: method, duration, error code (never request contents). */
  logger?: Logger;
  /** Sends requests through this instead of a new pool (sessions, tests). */
  transport?: PortoTransport;
}

/** Per-call options. */
export interface PortoCallOptions {
  /**
   * This call's deadline in ms, replacing the default; 0 for none. Long calls
   * (wait, pullDockerImage) default to none or to their own wait plus
   * `timeoutMs`, never to a fixed cap.
   */
  timeoutMs?: number;
  /** Abandons the call (its connection is dropped, since the reply would come late). */
  signal?: AbortSignal;
}

/** One property from `get`: its value, or why portod could not give it. */
export type GetValue = { value: string } | { error: PortoError };

/** Authentication and platform of a pull, as TDockerImagePullRequest has them. */
export interface PullImageRequest {
  /** Image reference. */
  name: string;
  /** Porto place holding the image store; default place when absent. */
  place?: string;
  /** Sent verbatim as the registry `Authorization` header. Never logged. */
  authToken?: string;
  /** Token endpoint for portod's own bearer-token exchange. */
  authPath?: string;
  /** `service` for that exchange. */
  authService?: string;
  /** `os/arch[/variant]` to pick from a manifest list. */
  platform?: string;
}

/** Typed calls to portod. */
export class PortoClient {
  private readonly transport: PortoTransport;
  private readonly timeoutMs: number;
  private readonly diskTimeoutMs: number;
  private readonly log: Logger | undefined;

  constructor(private readonly options: PortoClientOptions = {}) {
    this.log = options.logger?.child({ component: "porto" });
    this.transport = options.transport ?? new PortoPool({ ...options, logger: this.log });
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.diskTimeoutMs = options.diskTimeoutMs ?? DEFAULT_DISK_TIMEOUT_MS;
  }

  /**
   * A client over one dedicated connection, for weak containers: portod
   * destroys them when the connection that created them closes, which in the
   * pool could happen at any time. Closing the session closes that connection.
   */
  session(): PortoClient {
    const transport = new PortoSession({
      socketPath: this.options.socketPath ?? DEFAULT_SOCKET_PATH,
      maxMessageBytes: this.options.maxMessageBytes,
      logger: this.log,
    });
    return new PortoClient({ ...this.options, transport });
  }

  /** Watches container states and labels over a dedicated connection (see events.ts). */
  subscribe(options: Omit<SubscribeOptions, "socketPath">): Subscription {
    return subscribe({
      socketPath: this.options.socketPath,
      maxMessageBytes: this.options.maxMessageBytes,
      logger: this.log,
      ...options,
    });
  }

  /** Closes every connection; calls in flight fail with SocketError. */
  close(): void {
    this.transport.close();
  }

  /**
   * Sends any request and returns the reply, throwing a PortoError for an
   * error reply. For requests without a typed method here.
   */
  async call(
    request: MessageInitShape<typeof TContainerRequestSchema>,
    options: PortoCallOptions = {},
    defaultTimeoutMs = this.timeoutMs,
  ): Promise<TContainerResponse> {
    const req = create(TContainerRequestSchema, request);
    const method = requestMethod(req);
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    const started = performance.now();
    try {
      const rsp = await this.transport.call(req, { deadline, signal: options.signal });
      const err = responseError(rsp, method);
      if (err) throw err;
      this.log?.debug({ method, ms: elapsed(started), code: EError.Success }, "porto call");
      return rsp;
    } catch (err) {
      // Code and name only: portod's message could quote request contents (a pull's auth).
      const code = isPortoError(err) ? err.code : undefined;
      const codeName = isPortoError(err) ? err.codeName : (err as Error)?.name;
      this.log?.debug({ method, ms: elapsed(started), code, codeName }, "porto call failed");
      throw err;
    }
  }

  // ---- system

  /** portod's version tag and revision. */
  async version(options?: PortoCallOptions): Promise<TVersionResponse> {
    const rsp = await this.call({ version: {} }, options);
    return present(rsp.version, "version");
  }

  /** portod's counters and settings. */
  async getSystem(options?: PortoCallOptions): Promise<TGetSystemResponse> {
    const rsp = await this.call({ GetSystem: {} }, options);
    return present(rsp.GetSystem, "GetSystem");
  }

  // ---- containers

  /** Creates a container (and volumes built with it) in one request; portod undoes all of it on failure. */
  async createFromSpec(
    spec: MessageInitShape<typeof TContainerSpecSchema>,
    options: PortoCallOptions & { volumes?: MessageInitShape<typeof TVolumeSpecSchema>[]; start?: boolean } = {},
  ): Promise<void> {
    const volumes = options.volumes ?? [];
    const timeout = volumes.length > 0 ? this.diskTimeout() : this.timeoutMs;
    await this.call({ CreateFromSpec: { container: spec, volumes, start: options.start } }, options, timeout);
  }

  /** Changes the properties set in `spec` (labels merge with existing ones). */
  async updateFromSpec(
    spec: MessageInitShape<typeof TContainerSpecSchema>,
    options: PortoCallOptions & { start?: boolean } = {},
  ): Promise<void> {
    await this.call({ UpdateFromSpec: { container: spec, start: options.start } }, options);
  }

  /** Creates a stopped container with default properties. */
  async create(name: string, options?: PortoCallOptions): Promise<void> {
    await this.call({ create: { name } }, options);
  }

  /**
   * Creates a container portod destroys when this connection closes. Use it
   * on a `session()`: through the pool the connection may close any time.
   */
  async createWeak(name: string, options?: PortoCallOptions): Promise<void> {
    await this.call({ createWeak: { name } }, options);
  }

  /** Starts a container (and its stopped parents, as meta). */
  async start(name: string, options?: PortoCallOptions): Promise<void> {
    await this.call({ start: { name } }, options);
  }

  /**
   * Stops a container: SIGTERM (or its stop_signal), SIGKILL after
   * `stopTimeoutMs` (portod's default when absent). The call's deadline
   * includes that grace time.
   */
  async stop(name: string, stopTimeoutMs?: number, options?: PortoCallOptions): Promise<void> {
    const timeoutMs = stopTimeoutMs === undefined ? undefined : clampUint32(stopTimeoutMs);
    await this.call({ stop: { name, timeoutMs } }, options, this.extended(timeoutMs ?? 0));
  }

  /** Sends a signal to the container's main process. */
  async kill(name: string, signal: number, options?: PortoCallOptions): Promise<void> {
    await this.call({ kill: { name, sig: signal } }, options);
  }

  /** Destroys a container, its children and the volumes it owns. */
  async destroy(name: string, options?: PortoCallOptions): Promise<void> {
    await this.call({ destroy: { name } }, options);
  }

  /** Names of containers matching `mask` (all when absent). */
  async list(mask?: string, options?: PortoCallOptions): Promise<string[]> {
    const rsp = await this.call({ list: { mask } }, options);
    return rsp.list?.name ?? [];
  }

  /** Typed spec and status of containers matching the filters, in one round trip. */
  async listContainersBy(
    filters: MessageInitShape<typeof TListContainersFilterSchema>[],
    fieldOptions?: MessageInitShape<typeof TListContainersFieldOptionsSchema>,
    options?: PortoCallOptions,
  ): Promise<TContainer[]> {
    const rsp = await this.call({ ListContainersBy: { filters, fieldOptions } }, options);
    return rsp.ListContainersBy?.containers ?? [];
  }

  /**
   * Many properties of many containers in one request. A property portod
   * cannot give (no such container, no value yet) comes back as an error in
   * its slot, not as a failed call.
   */
  async get(
    names: string[],
    properties: string[],
    options: PortoCallOptions & { nonblock?: boolean; sync?: boolean; real?: boolean; changedSince?: bigint } = {},
  ): Promise<Map<string, Map<string, GetValue>>> {
    const { nonblock, sync, real, changedSince } = options;
    const rsp = await this.call({ get: { name: names, variable: properties, nonblock, sync, real, changedSince } }, options);
    const out = new Map<string, Map<string, GetValue>>();
    for (const entry of rsp.get?.list ?? []) {
      const values = new Map<string, GetValue>();
      for (const kv of entry.keyval) {
        const code = readEnumField(kv, TContainerGetResponse_TContainerGetValueResponseSchema.field.error);
        values.set(
          kv.variable,
          code === EError.Success ? { value: kv.value } : { error: new PortoError(code, kv.errorMsg, { method: "get" }) },
        );
      }
      out.set(entry.name, values);
    }
    return out;
  }

  /** One property of one container. */
  async getProperty(
    name: string,
    property: string,
    options: PortoCallOptions & { sync?: boolean; real?: boolean } = {},
  ): Promise<string> {
    const rsp = await this.call({ getProperty: { name, property, sync: options.sync, real: options.real } }, options);
    return present(rsp.getProperty, "getProperty").value;
  }

  /** Sets one property. */
  async setProperty(name: string, property: string, value: string, options?: PortoCallOptions): Promise<void> {
    await this.call({ setProperty: { name, property, value } }, options);
  }

  /**
   * Waits until one of `names` (patterns allowed) stops, dies or changes a
   * label in `labels`; with `targetState`, until one reaches that state.
   * After `waitMs` portod answers `{name: "", state: "timeout"}`; without it
   * the wait has no end, and neither has the call unless `timeoutMs` is given.
   */
  async wait(
    names: string[],
    waitMs?: number,
    options: PortoCallOptions & { labels?: string[]; targetState?: string } = {},
  ): Promise<TContainerWaitResponse> {
    const timeoutMs = waitMs === undefined ? undefined : clampUint32(waitMs);
    const rsp = await this.call(
      { wait: { name: names, timeoutMs, label: options.labels ?? [], targetState: options.targetState } },
      options,
      timeoutMs === undefined ? 0 : this.extended(timeoutMs),
    );
    return present(rsp.wait, "wait");
  }

  // ---- labels

  /**
   * Sets a label. With `prevValue` it is a compare-and-set (fails unless the
   * label currently has that value); with `state`, only in that state.
   * Returns the previous value and the state.
   */
  async setLabel(
    name: string,
    label: string,
    value: string,
    options: PortoCallOptions & { prevValue?: string; state?: string } = {},
  ): Promise<TSetLabelResponse> {
    const rsp = await this.call(
      { SetLabel: { name, label, value, prevValue: options.prevValue, state: options.state } },
      options,
    );
    // portod always sets it; an empty one only means "no previous value".
    return rsp.SetLabel ?? create(TSetLabelResponseSchema);
  }

  /** Containers carrying `label` (pattern allowed), optionally with `value`, under `mask`, in `state`. */
  async findLabel(
    label: string,
    options: PortoCallOptions & { mask?: string; state?: string; value?: string } = {},
  ): Promise<TFindLabelResponse_TFindLabelEntry[]> {
    const { mask, state, value } = options;
    const rsp = await this.call({ FindLabel: { label, mask, state, value } }, options);
    return rsp.FindLabel?.list ?? [];
  }

  /** Adds `add` to a numeric label atomically (creating it at 0); returns the new value. */
  async incLabel(name: string, label: string, add: bigint | number = 1n, options?: PortoCallOptions): Promise<bigint> {
    const rsp = await this.call({ IncLabel: { name, label, add: BigInt(add) } }, options);
    return present(rsp.IncLabel, "IncLabel").result;
  }

  // ---- volumes

  /** Creates a volume from string properties (the older API); `path` undefined lets portod choose. */
  async createVolume(
    path: string | undefined,
    properties: Record<string, string>,
    options?: PortoCallOptions,
  ): Promise<TVolumeDescription> {
    const rsp = await this.call(
      { createVolume: { path, properties: Object.entries(properties).map(([name, value]) => ({ name, value })) } },
      options,
      this.diskTimeout(),
    );
    return present(rsp.volumeDescription, "volumeDescription");
  }

  /** Creates a volume from a typed spec; returns the spec portod completed (path, id, ...). */
  async newVolume(spec: MessageInitShape<typeof TVolumeSpecSchema>, options?: PortoCallOptions): Promise<TVolumeSpec> {
    const rsp = await this.call({ NewVolume: { volume: spec } }, options, this.diskTimeout());
    return present(rsp.NewVolume?.volume, "NewVolume");
  }

  /** Typed specs of the volumes at `paths` (all visible ones when empty), or those linked to `container`. */
  async getVolume(paths: string[], options: PortoCallOptions & { container?: string } = {}): Promise<TVolumeSpec[]> {
    const rsp = await this.call({ GetVolume: { path: paths, container: options.container } }, options);
    return rsp.GetVolume?.volume ?? [];
  }

  /** Volumes (older description form), optionally one path or those linked to one container. */
  async listVolumes(
    options: PortoCallOptions & { path?: string; container?: string } = {},
  ): Promise<TVolumeDescription[]> {
    const rsp = await this.call({ listVolumes: { path: options.path, container: options.container } }, options);
    return rsp.volumeList?.volumes ?? [];
  }

  /** Links a volume to a container, mounted at `target` inside it when given. */
  async linkVolume(
    path: string,
    container: string,
    options: PortoCallOptions & { target?: string; readOnly?: boolean; required?: boolean } = {},
  ): Promise<void> {
    const link = {
      path,
      container,
      target: options.target,
      readOnly: options.readOnly || undefined,
      required: options.required || undefined,
    };
    // As libporto: the plain request unless a target or `required` needs the newer one.
    const usesTarget = options.target !== undefined || options.required === true;
    await this.call(usesTarget ? { LinkVolumeTarget: link } : { linkVolume: link }, options);
  }

  /**
   * Unlinks a volume from `container` (the caller's own container when
   * absent; `***` for all, which destroys the volume). A volume that loses its
   * last link is destroyed, hence the disk timeout.
   */
  async unlinkVolume(
    path: string,
    container?: string,
    options: PortoCallOptions & { target?: string; strict?: boolean } = {},
  ): Promise<void> {
    const unlink = { path, container, target: options.target, strict: options.strict || undefined };
    await this.call(
      options.target !== undefined ? { UnlinkVolumeTarget: unlink } : { unlinkVolume: unlink },
      options,
      this.diskTimeout(),
    );
  }

  // ---- docker images

  /**
   * Pulls an image into portod's store. No deadline unless `timeoutMs` is
   * given: a pull takes as long as the registry needs, and CRI callers bring
   * their own deadline or signal.
   */
  async pullDockerImage(request: PullImageRequest, options?: PortoCallOptions): Promise<TDockerImage> {
    const rsp = await this.call({ pullDockerImage: { ...request } }, options, 0);
    return present(rsp.pullDockerImage?.image, "pullDockerImage");
  }

  /** Images in the store, optionally filtered by a name mask. */
  async listDockerImages(options: PortoCallOptions & { place?: string; mask?: string } = {}): Promise<TDockerImage[]> {
    const rsp = await this.call({ listDockerImages: { place: options.place, mask: options.mask } }, options);
    return rsp.listDockerImages?.images ?? [];
  }

  /** One image; rejects with DockerImageNotFound when portod does not have it. */
  async dockerImageStatus(name: string, options: PortoCallOptions & { place?: string } = {}): Promise<TDockerImage> {
    const rsp = await this.call({ dockerImageStatus: { name, place: options.place } }, options);
    const image = rsp.dockerImageStatus?.image;
    if (image === undefined) throw new PortoError(EError.DockerImageNotFound, name, { method: "dockerImageStatus" });
    return image;
  }

  /** Removes an image (by name, tag or id) from the store. */
  async removeDockerImage(name: string, options: PortoCallOptions & { place?: string } = {}): Promise<void> {
    await this.call({ removeDockerImage: { name, place: options.place } }, options, this.diskTimeout());
  }

  /** The ordinary timeout plus `extraMs` of expected server-side waiting; none stays none. */
  private extended(extraMs: number): number {
    return this.timeoutMs > 0 ? this.timeoutMs + extraMs : 0;
  }

  private diskTimeout(): number {
    return this.extended(this.diskTimeoutMs);
  }
}

function present<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new PortoError(EError.LostError, `reply lacks ${field}`, { method: field });
  return value;
}

function clampUint32(ms: number): number {
  return Math.min(0xffffffff, Math.max(0, Math.round(ms)));
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
