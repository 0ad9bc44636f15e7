/**
 * One function per portod request (src/rpc.cpp), filling the response the
 * way portod does. A handler throws PortoError for failures; whatever it put
 * into the response before throwing stays there, as with portod's replies
 * (SetLabel's prev_value, a failed wait's name).
 */
import { create, isFieldSet } from "@bufbuild/protobuf";
import { release } from "node:os";
import {
  EError,
  TContainerGetResponse_TContainerGetListResponseSchema,
  TContainerGetResponse_TContainerGetValueResponseSchema,
  TContainerGetResponseSchema,
  TContainerListResponseSchema,
  TContainerPropertyListResponse_TContainerPropertyListEntrySchema,
  TContainerPropertyListResponseSchema,
  TContainerDataListResponseSchema,
  TContainerDataListResponse_TContainerDataListEntrySchema,
  TContainerSchema,
  TContainerSpecSchema,
  TContainerStatusSchema,
  TContainerWaitRequestSchema,
  TContainerWaitResponseSchema,
  TDockerImageListResponseSchema,
  TDockerImagePullResponseSchema,
  TDockerImageStatusResponseSchema,
  TErrorSchema,
  TFindLabelResponse_TFindLabelEntrySchema,
  TFindLabelResponseSchema,
  TGetSystemResponseSchema,
  TGetVolumeResponseSchema,
  TIncLabelRequestSchema,
  TIncLabelResponseSchema,
  TListContainersResponseSchema,
  TNewVolumeResponseSchema,
  TSetLabelRequestSchema,
  TSetLabelResponseSchema,
  TContainerListRequestSchema,
  TContainerStopRequestSchema,
  TFindLabelRequestSchema,
  TVersionResponseSchema,
  TVolumeListResponseSchema,
  TVolumePropertyListResponse_TVolumePropertyDescriptionSchema,
  TVolumePropertyListResponseSchema,
  TVolumeUnlinkRequestSchema,
  TContainerGetPropertyResponseSchema,
  TContainerGetDataResponseSchema,
  TVolumeLinkRequestSchema,
  TVolumeListRequestSchema,
  TGetVolumeRequestSchema,
  TContainerRequestSchema,
  type TContainerRequest,
  type TContainerResponse,
  type TContainerWaitRequest,
  type TCreateFromSpecRequest,
  type TContainerSpec,
} from "../../gen/rpc_pb.js";
import type { Container } from "./container.js";
import type { Client, Daemon } from "./daemon.js";
import { attempt, fail } from "./errors.js";
import type { Images } from "./images.js";
import { resolveName, validLabel, LABEL_COUNT_MAX } from "./names.js";
import { dumpContainer, getLabel, getProperty, loadSpec, PROPERTIES, setLabel, setProperty } from "./properties.js";
import { sortedKeys, stringMatch } from "./text.js";
import { now, Waiter, type Report } from "./waiters.js";
import { VOLUME_PROPERTIES, type Volumes } from "./volumes.js";

export interface Services {
  daemon: Daemon;
  volumes: Volumes;
  images: Images;
  version: { tag: string; revision: string };
  startedAt: number;
}

/** The connection as handlers see it: a Client that can also wait for a sync `wait` answer. */
export interface Conn extends Client {
  /** Resolves with the report that answers the pending sync wait (set before activating the waiter). */
  expectWaitAnswer(): Promise<Report>;
}

/** What the server sends back: a normal reply, or a sync wait's own answer. */
export type Outcome = { kind: "reply" } | { kind: "wait"; report: Report };

const REPLY: Outcome = { kind: "reply" };

export async function handle(s: Services, conn: Conn, req: TContainerRequest, rsp: TContainerResponse): Promise<Outcome> {
  const d = s.daemon;
  // The order of portod's dispatch chain matters when a request carries two methods: the first wins.
  if (req.CreateFromSpec) await createFromSpec(s, conn, req.CreateFromSpec);
  else if (req.UpdateFromSpec) await updateFromSpec(d, req.UpdateFromSpec.container!, req.UpdateFromSpec.start);
  else if (req.ListContainersBy) listContainersBy(d, req, rsp);
  else if (req.create) d.create(req.create.name, false, conn);
  else if (req.createWeak) d.create(req.createWeak.name, true, conn);
  else if (req.destroy) await d.destroy(d.findWritable(req.destroy.name));
  else if (req.list) {
    const mask = isFieldSet(req.list, TContainerListRequestSchema.field.mask) ? req.list.mask : "***";
    const since = isFieldSet(req.list, TContainerListRequestSchema.field.changedSince) ? req.list.changedSince : undefined;
    const names = sorted(d)
      .filter((ct) => !ct.isRoot && stringMatch(ct.name, mask) && (since === undefined || BigInt(ct.changeTime) >= since))
      .map((ct) => ct.name);
    // portod creates the list field with its first name: no match, no field.
    if (names.length) rsp.list = create(TContainerListResponseSchema, { name: names });
  } else if (req.getProperty) {
    const value = getProperty(d.find(req.getProperty.name), req.getProperty.property, d);
    rsp.getProperty = create(TContainerGetPropertyResponseSchema, { value });
  } else if (req.setProperty) {
    setProperty(d.findWritable(req.setProperty.name), req.setProperty.property, req.setProperty.value, d);
  } else if (req.getData) {
    const value = getProperty(d.find(req.getData.name), req.getData.data, d);
    rsp.getData = create(TContainerGetDataResponseSchema, { value });
  } else if (req.get) combinedGet(d, req, rsp);
  else if (req.start) await d.start(d.findWritable(req.start.name));
  else if (req.stop) {
    const ms = isFieldSet(req.stop, TContainerStopRequestSchema.field.timeoutMs) ? req.stop.timeoutMs : d.options.stopTimeoutMs;
    await d.stop(d.findWritable(req.stop.name), ms);
  } else if (req.pause) d.pause(d.findWritable(req.pause.name));
  else if (req.resume) d.resume(d.findWritable(req.resume.name));
  else if (req.Respawn) await d.respawnNow(d.findWritable(req.Respawn.name));
  else if (req.kill) d.kill(d.findWritable(req.kill.name), req.kill.sig);
  else if (req.propertyList) {
    rsp.propertyList = create(TContainerPropertyListResponseSchema, {
      list: [...PROPERTIES.values()]
        .filter((p) => !p.unsupported)
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((p) =>
          create(TContainerPropertyListResponse_TContainerPropertyListEntrySchema, {
            name: p.name,
            desc: p.desc + (p.readOnly ? " (ro)" : "") + (p.dynamic ? " (dynamic)" : ""),
            readOnly: !!p.readOnly,
            dynamic: !!p.dynamic,
          }),
        ),
    });
  } else if (req.dataList) {
    rsp.dataList = create(TContainerDataListResponseSchema, {
      list: [...PROPERTIES.values()]
        .filter((p) => p.readOnly && !p.unsupported)
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map((p) => create(TContainerDataListResponse_TContainerDataListEntrySchema, { name: p.name, desc: p.desc + " (ro)" })),
    });
  } else if (req.version) rsp.version = create(TVersionResponseSchema, s.version);
  else if (req.wait) return wait(d, conn, req.wait, false, false, rsp);
  else if (req.AsyncWait) return wait(d, conn, req.AsyncWait, true, false, rsp);
  else if (req.StopAsyncWait) return wait(d, conn, req.StopAsyncWait, true, true, rsp);
  else if (req.FindLabel) findLabel(d, req, rsp);
  else if (req.SetLabel) setLabelRequest(d, req, rsp);
  else if (req.IncLabel) incLabel(d, req, rsp);
  else if (req.listVolumeProperties) {
    rsp.volumePropertyList = create(TVolumePropertyListResponseSchema, {
      properties: VOLUME_PROPERTIES.map(([name, desc]) =>
        create(TVolumePropertyListResponse_TVolumePropertyDescriptionSchema, { name, desc }),
      ),
    });
  } else if (req.createVolume) {
    const props = new Map(req.createVolume.properties.map((p) => [p.name, p.value]));
    const v = s.volumes.create(s.volumes.specFromProperties(req.createVolume.path || undefined, props));
    rsp.volumeDescription = s.volumes.describe(v);
  } else if (req.NewVolume) {
    const v = s.volumes.create(req.NewVolume.volume!);
    rsp.NewVolume = create(TNewVolumeResponseSchema, { volume: s.volumes.dump(v) });
  } else if (req.linkVolume || req.LinkVolumeTarget) {
    const r = (req.linkVolume ?? req.LinkVolumeTarget)!;
    const ct = d.find(r.container !== "" ? r.container : "self");
    const target = isFieldSet(r, TVolumeLinkRequestSchema.field.target) ? r.target : "";
    s.volumes.link(s.volumes.find(r.path), ct, target, r.readOnly, r.required);
  } else if (req.unlinkVolume || req.UnlinkVolumeTarget) {
    const r = (req.unlinkVolume ?? req.UnlinkVolumeTarget)!;
    const hasContainer = isFieldSet(r, TVolumeUnlinkRequestSchema.field.container);
    const ct = hasContainer && r.container === "***" ? undefined : d.find(hasContainer ? r.container : "self");
    const v = s.volumes.find(r.path);
    if (ct) s.volumes.unlink(v, ct, isFieldSet(r, TVolumeUnlinkRequestSchema.field.target) ? r.target : "***", r.strict);
    else s.volumes.destroy(v);
  } else if (req.listVolumes) {
    const r = req.listVolumes;
    if (r.path && !r.path.includes("*")) {
      rsp.volumeList = create(TVolumeListResponseSchema, { volumes: [s.volumes.describe(s.volumes.find(r.path), r.path)] });
    } else {
      if (isFieldSet(r, TVolumeListRequestSchema.field.container)) d.find(r.container);
      const volumes = s.volumes.list(r.path || "***").map((v) => s.volumes.describe(v));
      // As with `list`, portod creates volumeList only when adding the first volume.
      if (volumes.length) rsp.volumeList = create(TVolumeListResponseSchema, { volumes });
    }
  } else if (req.GetVolume) {
    const r = req.GetVolume;
    const ctName = isFieldSet(r, TGetVolumeRequestSchema.field.container) ? d.find(r.container) && r.container : "/";
    const out = create(TGetVolumeResponseSchema);
    if (r.path.length) {
      for (const path of r.path) {
        const v = s.volumes.byPath.get(path);
        if (v) {
          const spec = s.volumes.dump(v);
          spec.path = path;
          spec.container = ctName;
          out.volume.push(spec);
        } else if (r.path.length === 1) throw fail(EError.VolumeNotFound, `Volume ${path} not found`);
      }
    } else {
      for (const v of s.volumes.list("***")) {
        const spec = s.volumes.dump(v);
        spec.container = ctName;
        out.volume.push(spec);
      }
    }
    rsp.GetVolume = out;
  } else if (req.tuneVolume) {
    const v = s.volumes.find(req.tuneVolume.path);
    for (const p of req.tuneVolume.properties) {
      if (p.name === "private") v.private = p.value;
      else if (p.name === "space_limit") v.spaceLimit = BigInt(p.value || "0");
      else if (p.name === "inode_limit") v.inodeLimit = BigInt(p.value || "0");
      else throw fail(EError.InvalidProperty, `Volume property ${p.name} cannot be changed`);
    }
  } else if (req.dockerImageStatus) {
    rsp.dockerImageStatus = create(TDockerImageStatusResponseSchema, { image: s.images.status(req.dockerImageStatus.name) });
  } else if (req.listDockerImages) {
    rsp.listDockerImages = create(TDockerImageListResponseSchema, { images: s.images.list(req.listDockerImages.mask) });
  } else if (req.pullDockerImage) {
    rsp.pullDockerImage = create(TDockerImagePullResponseSchema, { image: await s.images.pull(req.pullDockerImage.name) });
  } else if (req.removeDockerImage) s.images.remove(req.removeDockerImage.name);
  else if (req.GetSystem) getSystem(s, rsp);
  else if (req.SetSystem || req.ClearStatistics) {
    /* accepted, nothing to change */
  } else if (TContainerRequestSchema.fields.some((f) => isFieldSet(req, f))) {
    throw fail(EError.NotSupported, "porto double does not model this request");
  } else throw fail(EError.InvalidMethod, "invalid RPC method");
  return REPLY;
}

function sorted(d: Daemon): Container[] {
  return sortedKeys(d.containers).map((k) => d.containers.get(k)!);
}

/** GetContainerCombined: names and masks, per-value errors instead of a failed request. */
function combinedGet(d: Daemon, req: TContainerRequest, rsp: TContainerResponse): void {
  const r = req.get!;
  const names = r.name.filter((n) => !/[*?]/.test(n));
  const masks = r.name.filter((n) => /[*?]/.test(n));
  if (masks.length) {
    for (const ct of sorted(d)) if (!ct.isRoot && masks.some((m) => stringMatch(ct.name, m))) names.push(ct.name);
  }
  const out = create(TContainerGetResponseSchema);
  for (const name of names) {
    const entry = create(TContainerGetResponse_TContainerGetListResponseSchema, { name });
    let ct: Container | undefined;
    const ctError = attempt(() => void (ct = d.find(name)));
    if (ct) {
      entry.changeTime = BigInt(ct.changeTime);
      if (r.changedSince && BigInt(ct.changeTime) < r.changedSince) {
        entry.noChanges = true;
        out.list.push(entry);
        continue;
      }
    }
    for (const variable of r.variable) {
      const kv = create(TContainerGetResponse_TContainerGetValueResponseSchema, { variable });
      let value = "";
      const e = ctError ?? attempt(() => void (value = getProperty(ct!, variable, d)));
      if (e) {
        kv.error = e.code;
        kv.errorMsg = e.message;
      } else kv.value = value;
      entry.keyval.push(kv);
    }
    out.list.push(entry);
  }
  rsp.get = out;
}

/** WaitContainers: sync wait answers once, AsyncWait registers and pushes. */
async function wait(
  d: Daemon,
  conn: Conn,
  r: TContainerWaitRequest,
  async: boolean,
  stop: boolean,
  rsp: TContainerResponse,
): Promise<Outcome> {
  if (!r.name.length && !async) throw fail(EError.InvalidValue, "Containers to wait are not set");
  const w = new Waiter(async, conn);
  if (isFieldSet(r, TContainerWaitRequestSchema.field.targetState)) w.targetState = r.targetState;
  w.labels.push(...r.label);

  const matches = (ct: Container, name: string): Report[] => {
    if (!w.shouldReport(ct)) return [];
    if (!w.labels.length) return [{ name, state: ct.state, when: now() }];
    return sortedKeys(ct.labels)
      .filter((l) => w.shouldReportLabel(l))
      .map((l) => ({ name, state: ct.state, when: now(), label: l, value: ct.labels.get(l) }));
  };
  const deliver = (reports: Report[]): Outcome | undefined => {
    for (const rep of reports) {
      if (!async) return { kind: "wait", report: rep };
      conn.pushAsync(rep);
    }
    return undefined;
  };

  for (const name of r.name) {
    if (name === "***") {
      w.wildcards.push(name);
      continue;
    }
    const full = resolveName(name);
    if (/[*?]/.test(name)) {
      w.wildcards.push(full);
      continue;
    }
    w.names.push(full);
    if (stop) continue;
    const ct = d.containers.get(full);
    if (!ct) {
      if (async) continue;
      rsp.wait = create(TContainerWaitResponseSchema, { name });
      throw fail(EError.ContainerDoesNotExist, `container ${full} not found`);
    }
    const done = deliver(matches(ct, name));
    if (done) return done;
  }
  if (stop) {
    if (!d.waiters.remove(w)) throw fail(EError.InvalidValue, "Waiter not found");
    return REPLY;
  }
  if (w.wildcards.length) {
    for (const ct of sorted(d)) {
      const done = deliver(matches(ct, ct.name));
      if (done) return done;
    }
  }
  const hasTimeout = isFieldSet(r, TContainerWaitRequestSchema.field.timeoutMs);
  if (hasTimeout && r.timeoutMs === 0) {
    const done = deliver([{ name: "", state: "timeout", when: now() }]);
    return done ?? REPLY;
  }
  const answer = async ? undefined : conn.expectWaitAnswer();
  d.waiters.activate(w);
  if (r.timeoutMs) {
    w.timer = setTimeout(() => d.waiters.timeout(w), r.timeoutMs);
    w.timer.unref();
  }
  if (!answer) return REPLY;
  return { kind: "wait", report: await answer };
}

function findLabel(d: Daemon, req: TContainerRequest, rsp: TContainerResponse): void {
  const r = req.FindLabel!;
  const hasState = isFieldSet(r, TFindLabelRequestSchema.field.state);
  const hasMask = isFieldSet(r, TFindLabelRequestSchema.field.mask);
  const hasValue = isFieldSet(r, TFindLabelRequestSchema.field.value);
  const wild = /[*?]/.test(r.label);
  const out = create(TFindLabelResponseSchema);
  const add = (ct: Container, label: string, value: string) =>
    out.list.push(create(TFindLabelResponse_TFindLabelEntrySchema, { name: ct.name, state: ct.state, label, value }));
  for (const ct of sorted(d)) {
    if (hasState && ct.state !== r.state) continue;
    if (hasMask && !stringMatch(ct.name, r.mask)) continue;
    if (wild) {
      for (const l of sortedKeys(ct.labels)) {
        const v = ct.labels.get(l)!;
        if (stringMatch(l, r.label) && (!hasValue || v === r.value)) add(ct, l, v);
      }
    } else {
      let v: string | undefined;
      if (!attempt(() => void (v = getLabel(ct, r.label))) && (!hasValue || v === r.value)) add(ct, r.label, v!);
    }
  }
  rsp.FindLabel = out;
}

/** SetLabel with compare-and-set on prev_value and an optional expected state. */
function setLabelRequest(d: Daemon, req: TContainerRequest, rsp: TContainerResponse): void {
  const r = req.SetLabel!;
  validLabel(r.label, r.value);
  const ct = d.findWritable(r.name);
  const cur = ct.labels.get(r.label);
  const out = create(TSetLabelResponseSchema, { state: ct.state });
  if (cur !== undefined) out.prevValue = cur;
  rsp.SetLabel = out;
  if (isFieldSet(r, TSetLabelRequestSchema.field.prevValue)) {
    if (cur === undefined) {
      if (r.prevValue !== "") throw fail(EError.LabelNotFound, `Container ${r.name} has no label ${r.label}`);
    } else if (r.prevValue !== cur)
      throw fail(EError.Busy, `Container ${r.name} label ${r.label} is ${cur} not ${r.prevValue}`);
  }
  if (isFieldSet(r, TSetLabelRequestSchema.field.state) && ct.state !== r.state)
    throw fail(EError.InvalidState, `Container ${r.name} is ${ct.state} not ${r.state}`);
  if (r.value !== "" && ct.labels.size >= LABEL_COUNT_MAX) throw fail(EError.ResourceNotAvailable, "Too many labels");
  setLabel(ct, r.label, r.value);
  d.waiters.reportAll(ct, r.label, r.value);
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

function incLabel(d: Daemon, req: TContainerRequest, rsp: TContainerResponse): void {
  const r = req.IncLabel!;
  validLabel(r.label, "");
  const ct = d.findWritable(r.name);
  const add = isFieldSet(r, TIncLabelRequestSchema.field.add) ? r.add : 1n;
  const out = create(TIncLabelResponseSchema, { result: 0n });
  rsp.IncLabel = out;
  const cur = ct.labels.get(r.label);
  let val = 0n;
  if (cur === undefined) {
    if (!add) throw fail(EError.LabelNotFound, `Label ${r.label} is not set`);
    if (ct.labels.size >= LABEL_COUNT_MAX) throw fail(EError.ResourceNotAvailable, "Too many labels");
  } else {
    if (!/^\s*[+-]?\d+\s*$/.test(cur)) throw fail(EError.InvalidValue, "Bad int64 value: " + cur);
    val = BigInt(cur.trim());
  }
  out.result = val;
  if ((add > 0n && val > INT64_MAX - add) || (add < 0n && val < INT64_MIN - add))
    throw fail(EError.InvalidValue, `Label ${r.label} overflow ${val} + ${add}`);
  val += add;
  ct.labels.set(r.label, String(val));
  out.result = val;
  d.waiters.reportAll(ct, r.label, String(val));
}

/** CreateFromSpec: create, load the spec, create the volumes, maybe start; destroy the container on failure. */
async function createFromSpec(s: Services, conn: Conn, r: TCreateFromSpecRequest): Promise<void> {
  const d = s.daemon;
  const spec = r.container!;
  const ct = d.create(spec.name, false, undefined);
  try {
    loadSpec(ct, spec, d);
    // portod 5.3.59 means to link each volume to the new container, but adds
    // the link to a copy of the spec (`for (auto volume_spec: ...)`): a volume
    // without explicit links ends up linked to "/" and outlives the container,
    // even when the request fails. Only explicit links tie it to the container.
    for (const vs of r.volumes) s.volumes.create(vs);
    if (spec.weak) {
      ct.weak = true;
      conn.weakContainers.push(ct);
    } else ct.weak = false;
    if (r.start) await d.start(ct);
  } catch (e) {
    if (d.containers.get(ct.name) === ct) await d.destroy(ct);
    throw e;
  }
}

/** UpdateFromSpec: load with restore-on-error, then start if asked even when loading failed (as portod). */
async function updateFromSpec(d: Daemon, spec: TContainerSpec, start: boolean): Promise<void> {
  const ct = d.findWritable(spec.name);
  const old = create(TContainerSpecSchema, { name: spec.name });
  for (const p of PROPERTIES.values()) {
    if (p.specField && p.dumpSpec && isFieldSet(spec, TContainerSpecSchema.field[p.specField])) p.dumpSpec(ct, old, d);
  }
  const error = attempt(() => loadSpec(ct, spec, d));
  if (error) attempt(() => loadSpec(ct, old, d));
  if (start && !ct.isRunningOrMeta) await d.start(ct);
  if (error) throw error;
}

/** ListContainersBy: first matching filter wins; a filter that matched nothing reports ContainerDoesNotExist. */
function listContainersBy(d: Daemon, req: TContainerRequest, rsp: TContainerResponse): void {
  const r = req.ListContainersBy!;
  const props = r.fieldOptions?.properties ?? [];
  const out = create(TListContainersResponseSchema);
  const found = new Set<string>();
  for (const ct of sorted(d)) {
    for (const f of r.filters) {
      if (!stringMatch(ct.name, f.name)) continue;
      if (f.labels && !f.labels.map.every((e) => ct.labels.get(e.key) === e.val)) continue;
      found.add(f.name);
      const c = create(TContainerSchema, { spec: create(TContainerSpecSchema, { name: ct.name }) });
      const status = create(TContainerStatusSchema);
      let hasStatus = false;
      dumpContainer(ct, props, c.spec!, status, d, (name) => {
        status.error.push(create(TErrorSchema, { error: EError.InvalidProperty, msg: `Unknown property ${name}` }));
      });
      for (const f2 of TContainerStatusSchema.fields) if (isFieldSet(status, f2)) hasStatus = true;
      if (hasStatus) c.status = status;
      out.containers.push(c);
      break;
    }
  }
  for (const f of r.filters) {
    if (found.has(f.name)) continue;
    out.containers.push(
      create(TContainerSchema, {
        spec: create(TContainerSpecSchema, { name: f.name }),
        error: create(TErrorSchema, { error: EError.ContainerDoesNotExist, msg: `container ${f.name} not found` }),
      }),
    );
  }
  rsp.ListContainersBy = out;
}

function getSystem(s: Services, rsp: TContainerResponse): void {
  const d = s.daemon;
  const n = (x: number) => BigInt(x);
  const running = [...d.containers.values()].filter((c) => c.state === "running").length;
  rsp.GetSystem = create(TGetSystemResponseSchema, {
    portoVersion: s.version.tag,
    portoRevision: s.version.revision,
    kernelVersion: release(),
    errors: 0n,
    warnings: 0n,
    fatals: 0n,
    portoStarts: 1n,
    portoUptime: n(Math.floor((Date.now() - s.startedAt) / 1000)),
    masterUptime: n(Math.floor((Date.now() - s.startedAt) / 1000)),
    taints: 0n,
    frozen: false,
    verbose: false,
    debug: false,
    logLines: 0n,
    logBytes: 0n,
    streamRotateBytes: 0n,
    streamRotateErrors: 0n,
    logLinesLost: 0n,
    logBytesLost: 0n,
    logOpen: 0n,
    containerCount: n(d.containers.size - 1),
    containerLimit: 4096n,
    containerRunning: n(running),
    containerCreated: n(d.stats.created),
    containerStarted: n(d.stats.started),
    containerStartFailed: n(d.stats.startFailed),
    containerOom: 0n,
    containerBuried: 0n,
    containerLost: 0n,
    volumeCount: n(s.volumes.byPath.size),
    volumeLimit: 4096n,
    volumeCreated: 0n,
    volumeFailed: 0n,
    volumeLinks: 0n,
    volumeLinksMounted: 0n,
    volumeLost: 0n,
    layerImport: 0n,
    layerExport: 0n,
    layerRemove: 0n,
    clientCount: n(d.stats.clients),
    clientMax: 1000n,
    clientConnected: n(d.stats.clients),
    requestQueued: 0n,
    requestCompleted: n(d.stats.requests),
    requestFailed: n(d.stats.failed),
    requestThreads: 1n,
    requestLonger1s: 0n,
    requestLonger3s: 0n,
    requestLonger30s: 0n,
    requestLonger5m: 0n,
    failSystem: 0n,
    failInvalidValue: 0n,
    failInvalidCommand: 0n,
  });
}
