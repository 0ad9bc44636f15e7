/**
 * The stats collector over a stub Porto client: what it asks (one get, one
 * listVolumes), where network counters and writable layers come from.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import pino from "pino";
import { TVolumeDescriptionSchema } from "../../gen/rpc_pb.js";
import { NamespaceMode } from "../../gen/runtime/v1/api_pb.js";
import { containerPortoName, podPortoName } from "../../src/mapping/porto-names.js";
import type { GetValue, PortoClient } from "../../src/porto/index.js";
import { PortoError } from "../../src/porto/index.js";
import { LayerUsage } from "../../src/runtime/layer-usage.js";
import { StatsCollector, rootVolumes } from "../../src/runtime/stats-collector.js";
import type { ContainerEntry, PodEntry } from "../../src/runtime/runtime-state.js";
import { ctr, pod } from "../mapping/helpers.js";

const P = "a".repeat(64);
const C1 = "b".repeat(64);
const C2 = "c".repeat(64);

const volume = (path: string, props: Record<string, string>, links: { container: string; target?: string; containerRoot?: boolean }[]) =>
  create(TVolumeDescriptionSchema, {
    path,
    properties: Object.entries(props).map(([name, value]) => ({ name, value })),
    containers: links.map((l) => l.container),
    links,
  });

test("root volumes: linked at /, as the container root, or (portod 5.3.59) a bare link to an image volume; each id once", () => {
  const n1 = containerPortoName(P, C1);
  const n2 = containerPortoName(P, C2);
  const roots = rootVolumes([
    volume("/place/porto_volumes/7/volume", { id: "7", backend: "overlay", place: "/place", storage: "", image: "busybox", space_limit: "0" }, [{ container: n1 }]),
    volume("/somewhere/else", { id: "7", backend: "overlay", place: "/place", storage: "", image: "busybox" }, [{ container: n1 }]),
    volume("/place/porto_volumes/8/volume", { id: "8", backend: "bind", place: "/place", storage: "/data" }, [{ container: n1, target: "/data" }]),
    volume("/q", { id: "9", backend: "overlay", place: "/ssd", storage: "", space_limit: "1048576", space_used: "4096", inode_used: "3" }, [
      { container: n2, containerRoot: true },
    ]),
  ]);
  assert.equal(roots.get(n1)?.upperDir, "/place/porto_volumes/7/overlay/upper");
  assert.equal(roots.get(n2)?.spaceLimit, 1048576n);
  assert.equal(roots.get(n2)?.spaceUsed, 4096n);
  assert.equal(roots.get(n2)?.upperDir, "/ssd/porto_volumes/9/overlay/upper");
  assert.equal(roots.size, 2, "a bind volume at /data is no root");
  const own = rootVolumes([volume("/v", { id: "3", backend: "overlay", place: "/place", storage: "/mine" }, [{ container: n1, target: "/" }])]);
  assert.equal(own.get(n1)?.upperDir, undefined, "with its own storage, portod keeps the upper layer elsewhere");
});

test("one get, and one listVolumes while a root volume is unknown or under a quota; network from the pod's root pid; layers from quota or a walk", async () => {
  const requests: string[] = [];
  const values: Record<string, Record<string, string>> = {
    [podPortoName(P)]: { state: "meta", cpu_usage: "3000", memory_usage: "100", root_pid: "4242", process_count: "3" },
    [containerPortoName(P, C1)]: { state: "running", cpu_usage: "2000", memory_usage: "50", "memory.stat": "total_inactive_file 20\n" },
    [containerPortoName(P, C2)]: { state: "stopped" },
  };
  const porto = {
    async get(names: string[], props: string[]) {
      requests.push(`get ${names.length}x${props.length}`);
      const out = new Map<string, Map<string, GetValue>>();
      for (const n of names) {
        const m = new Map<string, GetValue>();
        for (const p of props) {
          const v = values[n]?.[p];
          m.set(p, v !== undefined ? { value: v } : { error: new PortoError(6, "not available") });
        }
        out.set(n, m);
      }
      return out;
    },
    async listVolumes() {
      requests.push("listVolumes");
      return [
        volume("/v1", { id: "1", backend: "overlay", place: "/place", storage: "", image: "i" }, [{ container: containerPortoName(P, C1), target: "/" }]),
        volume("/v2", { id: "2", backend: "overlay", place: "/place", storage: "", space_limit: "100", space_used: "40", inode_used: "2" }, [
          { container: containerPortoName(P, C2), target: "/" },
        ]),
      ];
    },
  } as unknown as PortoClient;
  const walked: string[] = [];
  const netPids: number[] = [];
  const collector = new StatsCollector({
    porto,
    logger: pino({ level: "silent" }),
    readNetDev: async (pid) => {
      netPids.push(pid);
      return "  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n";
    },
    layers: new LayerUsage({
      measure: async (dir) => {
        walked.push(dir);
        return { bytes: 8192n, inodes: 2n, timestampNs: 1n };
      },
    }),
  });
  const podEntry = { record: { id: P }, config: pod({}) } as unknown as PodEntry;
  const entries = [C1, C2].map((id) => ({ record: { id, podId: P }, config: ctr({}) }) as unknown as ContainerEntry);
  const s = await collector.collect([podEntry], entries);
  assert.deepEqual(requests, ["get 3x7", "listVolumes"]);
  assert.deepEqual(netPids, [4242]);
  const p = s.pods.get(P)!;
  assert.equal(p.live, true);
  assert.deepEqual(p.network?.interfaces.map((i) => [i.name, i.rxBytes, i.txBytes]), [["eth0", 10n, 20n]]);
  assert.equal(p.usage.processCount, 3n);
  const c1 = s.containers.get(C1)!;
  assert.equal(c1.live, true);
  assert.equal(c1.usage.memoryUsage, 50n);
  assert.deepEqual(c1.layer, { bytes: 8192n, inodes: 2n, atNs: 1n, mountpoint: "/place/porto_volumes" });
  assert.deepEqual(walked, ["/place/porto_volumes/1/overlay/upper"]);
  const c2 = s.containers.get(C2)!;
  assert.equal(c2.live, false);
  assert.equal(c2.layer?.bytes, 40n, "under a quota portod's space_used is the layer's");
  assert.equal(c2.layer?.inodes, 2n);

  requests.length = 0;
  await collector.collect([], [entries[0]]);
  assert.deepEqual(requests, ["get 1x6"], "C1's root volume is known: no listing");
  requests.length = 0;
  await collector.collect([], entries);
  assert.deepEqual(requests, ["get 2x6", "listVolumes"], "C2's is under a quota: portod's figures are listed every time");

  const host = { record: { id: P }, config: pod({ linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } }) } as unknown as PodEntry;
  netPids.length = 0;
  const again = await collector.collect([host], []);
  assert.equal(again.pods.get(P)?.network, undefined, "a host-network pod's interfaces are the node's, not reported");
  assert.deepEqual(netPids, []);
  assert.ok(again.pods.get(P)?.nanoCores === undefined || again.pods.get(P)!.nanoCores! >= 0n);
});
