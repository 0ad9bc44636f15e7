import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connect } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import pino from "pino";
import { ImageService, RuntimeService, VersionResponseSchema, CgroupDriver } from "../../gen/runtime/v1/api_pb.js";
import { createCriServer } from "../../src/cri/server.js";
import type { CriServer } from "../../src/cri/server.js";
import { criRoutes } from "../../src/cri/routes.js";
import type { CriDeps } from "../../src/cri/routes.js";
import { callLogInterceptor } from "../../src/cri/call-log.js";
import { PortoClient } from "../../src/porto/index.js";
import { ImageStore } from "../../src/images/image-store.js";
import { CachedDiskUsage } from "../../src/images/disk-usage.js";
import { RecordStore } from "../../src/store/record-store.js";
import { RuntimeState } from "../../src/runtime/runtime-state.js";
import { portoImageResolver } from "../../src/runtime/images.js";
import { RawH2, indexed, literalIndexedHuffman, literalPlain } from "../helpers/raw-h2.js";

const silent = pino({ level: "silent" });

function transportFor(socketPath: string) {
  return createGrpcTransport({
    baseUrl: "http://localhost",
    nodeOptions: { createConnection: () => connect(socketPath) },
  });
}

let dir: string;
let socketPath: string;
let server: CriServer;
let runtime: Client<typeof RuntimeService>;
let imageClient: Client<typeof ImageService>;
let portoUp = true;
let statusDelayMs = 0;

// The image service over a portod that is not there: only ImageFsInfo is called here.
const imageDir = mkdtempSync(join(tmpdir(), "portoshim-server-images-"));
const image: CriDeps["image"] = {
  images: new ImageStore({
    porto: new PortoClient({ socketPath: join(imageDir, "no-portod.sock") }),
    imagesDir: join(imageDir, "porto_docker"),
    records: new RecordStore({ dir: join(imageDir, "state") }),
    registries: [],
    pauseImage: "registry.k8s.io/pause:3.7",
    pullTimeoutMs: 60_000,
    logger: silent,
  }),
  imageStoreUsage: new CachedDiskUsage(join(imageDir, "porto_docker"), 1000),
  volumesUsage: new CachedDiskUsage(join(imageDir, "volumes"), 1000),
};

// The lifecycle RPCs have their own tests (test/cri/runtime); here they only need to exist.
const stateDir = mkdtempSync(join(tmpdir(), "portoshim-server-state-"));
const nowhere = new PortoClient({ socketPath: join(stateDir, "no-portod.sock") });

const deps: CriDeps = {
  runtimeName: "porto",
  portoVersion: async () => ({ tag: "5.3.59", revision: "abc" }),
  pingPorto: async () => {
    if (statusDelayMs) await new Promise((r) => setTimeout(r, statusDelayMs));
    if (!portoUp) throw new Error("connect ENOENT /run/portod.socket");
  },
  loadCniConfig: async () => ({ ok: false, reason: "NetworkPluginNotReady", message: "no config" }),
  redactedConfig: () => ({ Images: { Registries: [{ Host: "r", AuthToken: "<redacted>" }] } }),
  image,
  runtime: {
    porto: nowhere,
    state: new RuntimeState({ stateDir, porto: nowhere, logger: silent }),
    images: portoImageResolver(nowhere),
    logger: silent,
    volumesDir: join(stateDir, "volumes"),
    runtimeHandlers: ["porto"],
  },
};

function startServer(path: string): CriServer {
  return createCriServer({
    socketPath: path,
    routes: criRoutes(deps),
    interceptors: [callLogInterceptor(silent)],
    logger: silent,
  });
}

before(async () => {
  await deps.runtime.state.load();
  dir = await mkdtemp(join(tmpdir(), "portoshim-server-"));
  socketPath = join(dir, "portoshim.sock");
  server = startServer(socketPath);
  await server.listen();
  const transport = transportFor(socketPath);
  runtime = createClient(RuntimeService, transport);
  imageClient = createClient(ImageService, transport);
});

after(async () => {
  await server.close(1000);
  nowhere.close();
  await rm(dir, { recursive: true, force: true });
  await rm(imageDir, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

describe("CRI server on a unix socket", () => {
  test("Version reports porto's version and API v1", async () => {
    const res = await runtime.version({});
    assert.equal(res.runtimeName, "porto");
    assert.equal(res.runtimeVersion, "5.3.59");
    assert.equal(res.runtimeApiVersion, "v1");
    assert.equal(res.version, "0.1.0");
  });

  test("Status follows portod and the CNI config, verbose adds the redacted config", async () => {
    let res = await runtime.status({ verbose: true });
    const cond = Object.fromEntries(res.status!.conditions.map((c) => [c.type, c]));
    assert.equal(cond.RuntimeReady.status, true);
    assert.equal(cond.NetworkReady.status, false);
    assert.equal(cond.NetworkReady.reason, "NetworkPluginNotReady");
    assert.match(JSON.parse(res.info.config).Images.Registries[0].AuthToken, /redacted/);
    portoUp = false;
    try {
      res = await runtime.status({});
      const rt = res.status!.conditions.find((c) => c.type === "RuntimeReady")!;
      assert.equal(rt.status, false);
      assert.match(rt.message, /ENOENT/);
      assert.deepEqual(res.info, {});
    } finally {
      portoUp = true;
    }
  });

  test("RuntimeConfig says cgroupfs", async () => {
    const res = await runtime.runtimeConfig({});
    assert.equal(res.linux?.cgroupDriver, CgroupDriver.CGROUPFS);
  });

  test("every RPC not built yet answers UNIMPLEMENTED", async () => {
    const built = new Set([
      "version",
      "status",
      "runtimeConfig",
      "runPodSandbox",
      "stopPodSandbox",
      "removePodSandbox",
      "podSandboxStatus",
      "listPodSandbox",
      "createContainer",
      "startContainer",
      "stopContainer",
      "removeContainer",
      "listContainers",
      "containerStatus",
      "updateRuntimeConfig",
      "reopenContainerLog",
      "containerStats",
      "listContainerStats",
      "streamContainerStats",
      "podSandboxStats",
      "listPodSandboxStats",
      "streamPodSandboxStats",
      "listMetricDescriptors",
      "listPodSandboxMetrics",
      "streamPodSandboxMetrics",
      "updateContainerResources",
      "updatePodSandboxResources",
      "getContainerEvents",
      "listImages",
      "streamImages",
      "imageStatus",
      "pullImage",
      "removeImage",
      "imageFsInfo",
    ]);
    const transport = transportFor(socketPath);
    let checked = 0;
    for (const svc of [RuntimeService, ImageService]) {
      const client = createClient(svc, transport) as unknown as Record<string, (req: object) => unknown>;
      for (const m of svc.methods) {
        if (built.has(m.localName)) continue;
        checked++;
        await assert.rejects(
          (async () => {
            const r = client[m.localName]({});
            if (m.methodKind === "server_streaming") {
              for await (const _ of r as AsyncIterable<unknown>) void _;
            } else await r;
          })(),
          (err: unknown) => ConnectError.from(err).code === Code.Unimplemented,
          m.name,
        );
      }
    }
    assert.equal(checked, 41 - built.size);
  });

  test("the socket file is mode 0600", async () => {
    const st = await stat(socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test("an image RPC answers and the server stays up", async () => {
    const fs = await imageClient.imageFsInfo({});
    assert.equal(fs.imageFilesystems[0]?.usedBytes?.value, 0n, "an image store not made yet uses nothing");
    assert.ok((await runtime.version({})).runtimeVersion);
  });
});

describe(":authority variants", () => {
  const base = (authority: Buffer) =>
    Buffer.concat([
      indexed(3), // :method POST
      indexed(6), // :scheme http
      literalPlain(":path", "/runtime.v1.RuntimeService/Version"),
      authority,
      literalPlain("content-type", "application/grpc"),
      literalPlain("te", "trailers"),
    ]);

  async function callWith(authority: Buffer, extra?: (c: RawH2) => Promise<void>) {
    const c = new RawH2(socketPath);
    try {
      c.request(1, base(authority), Buffer.alloc(0));
      const res = await c.response(1);
      if (extra) await extra(c);
      return res;
    } finally {
      c.close();
    }
  }

  function grpcStatus(res: { headers: Array<[string, string]>; trailers: Array<[string, string]> }) {
    return [...res.headers, ...res.trailers].find(([k]) => k === "grpc-status")?.[1];
  }

  function decodeVersion(data: Buffer) {
    assert.ok(data.length >= 5, "a gRPC message came back");
    return fromBinary(VersionResponseSchema, data.subarray(5, 5 + data.readUInt32BE(1)));
  }

  test("localhost, as kubelet sends", async () => {
    const res = await callWith(literalPlain(":authority", "localhost"));
    assert.equal(res.reset, undefined);
    assert.equal(grpcStatus(res), "0");
    assert.equal(decodeVersion(res.data).runtimeName, "porto");
  });

  test("a percent-encoded socket path", async () => {
    const res = await callWith(literalPlain(":authority", "%2Frun%2Fportoshim.sock"));
    assert.equal(grpcStatus(res), "0");
  });

  test("the raw socket path, Huffman-coded and indexed as grpc-go 1.51 does, twice on one connection", async () => {
    let second: Awaited<ReturnType<RawH2["response"]>> | undefined;
    const res = await callWith(literalIndexedHuffman(1, "/run/portoshim.sock"), async (c) => {
      // The second request refers to the authority by its dynamic table index (62).
      c.request(3, base(indexed(62)), Buffer.alloc(0));
      second = await c.response(3);
    });
    assert.equal(res.reset, undefined, "stream was not reset");
    assert.equal(grpcStatus(res), "0");
    assert.equal(decodeVersion(res.data).runtimeVersion, "5.3.59");
    assert.equal(second?.reset, undefined);
    assert.equal(grpcStatus(second!), "0");
  });

  test("garbage instead of HTTP/2 costs the client its connection, not the server", async () => {
    await new Promise<void>((resolve) => {
      const s = connect(socketPath);
      s.on("error", () => resolve());
      s.on("close", () => resolve());
      s.resume(); // the server answers with GOAWAY; read it so that close can follow
      s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      s.write(Buffer.alloc(100_000, 0xff));
    });
    assert.equal((await runtime.version({})).runtimeApiVersion, "v1");
  });
});

describe("socket path handling and shutdown", () => {
  test("a stale socket left by a killed process is replaced", async () => {
    const path = join(dir, "stale.sock");
    const r = spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`]);
    assert.equal(r.signal, "SIGKILL");
    assert.ok((await stat(path)).isSocket(), "the killed process left its socket behind");
    const s = startServer(path);
    await s.listen();
    const res = await createClient(RuntimeService, transportFor(path)).version({});
    assert.equal(res.runtimeName, "porto");
    await s.close(1000);
    await assert.rejects(stat(path), { code: "ENOENT" }, "close removes the socket");
  });

  test("a socket with a live server behind it is refused", async () => {
    const s = startServer(socketPath);
    await assert.rejects(s.listen(), /already running/);
    assert.equal((await runtime.version({})).runtimeName, "porto", "the first server still serves");
  });

  test("a path that is a regular file is refused, not deleted", async () => {
    const path = join(dir, "file.sock");
    await writeFile(path, "keep me");
    await assert.rejects(startServer(path).listen(), /not a socket/);
    assert.ok((await stat(path)).isFile());
  });

  test("close lets a call in flight finish, then removes the socket", async () => {
    const path = join(dir, "drain.sock");
    const s = startServer(path);
    await s.listen();
    const client = createClient(RuntimeService, transportFor(path));
    await client.version({});
    statusDelayMs = 300;
    try {
      const inFlight = client.status({});
      await new Promise((r) => setTimeout(r, 50));
      const closing = s.close(5000);
      const res = await inFlight;
      assert.equal(res.status?.conditions.length, 2);
      await closing;
      await assert.rejects(stat(path), { code: "ENOENT" });
    } finally {
      statusDelayMs = 0;
    }
  });
});
