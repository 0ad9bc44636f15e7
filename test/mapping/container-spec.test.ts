import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { MountPropagation, NamespaceMode, SecurityProfile_ProfileType, Signal } from "../../gen/runtime/v1/api_pb.js";
import type { ContainerConfig, PodSandboxConfig } from "../../gen/runtime/v1/api_pb.js";
import { UMASK_022, containerSpec, type ContainerSpecInput } from "../../src/mapping/container-spec.js";
import type { HostFacts } from "../../src/mapping/host-facts.js";
import type { RootfsEntry } from "../../src/mapping/container-paths.js";
import { AGING_TIME_FOREVER } from "../../src/mapping/pod-spec.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "../../src/mapping/security.js";
import { bytes, ctr, img, pod, throwsCode } from "./helpers.js";

type PodInit = Exclude<Parameters<typeof pod>[0], PodSandboxConfig | undefined>;
type CtrInit = Exclude<Parameters<typeof ctr>[0], ContainerConfig | undefined>;
const P = "a".repeat(64);
const C = "b".repeat(64);
const NAME = `k8s-${P}/${C}`;
const BUSYBOX_FILES = new Set(["/bin", "/bin/sh", "/etc", "/etc/passwd", "/etc/group", "/dev", "/proc", "/sys", "/tmp", "/home", "/home/app"]);
const rootfs = {
  exists: (p: string) => BUSYBOX_FILES.has(p),
  passwd: "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  group: "root:x:0:\napp:x:1000:\nwheel:x:10:root\n",
};
const POD_INIT = {
  metadata: { name: "web", uid: "u1", namespace: "default" },
  hostname: "web",
  dnsConfig: { servers: ["10.96.0.10"], searches: ["default.svc.cluster.local"], options: ["ndots:5"] },
  linux: { securityContext: { namespaceOptions: { network: NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD } } },
} satisfies PodInit;
const kubeletPod = pod(POD_INIT);
const input = (over: Partial<ContainerSpecInput> = {}, c: CtrInit = {}): ContainerSpecInput => ({
  podId: P,
  containerId: C,
  pod: kubeletPod,
  container: ctr({
    metadata: { name: "app" },
    linux: { securityContext: { namespaceOptions: { network: NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD } } },
    ...c,
  }),
  image: img({ entrypoint: ["/bin/sh"], cmd: ["-c", "sleep 1"], env: ["PATH=/bin"] }),
  imageName: "registry.k8s.io/e2e-test-images/busybox:1.29-2",
  rootfs,
  ...over,
});

test("a typical container: every property the mapping sets", () => {
  const r = containerSpec(
    input(
      {},
      {
        args: ["-c", "echo hi"],
        workingDir: "/work",
        envs: [{ key: "MODE", value: bytes("prod") }],
        mounts: [{ containerPath: "/etc/hosts", hostPath: "/var/lib/kubelet/pods/u1/etc-hosts" }, { containerPath: "/dev/termination-log", hostPath: "/var/lib/kubelet/pods/u1/containers/app/x" }],
        linux: {
          resources: { cpuShares: 102n, cpuPeriod: 100_000n, cpuQuota: 20_000n, memoryLimitInBytes: 128n << 20n, oomScoreAdj: 999n },
          securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD }, runAsUser: { value: 1000n } },
        },
      },
    ),
  );
  assert.deepEqual(r.spec, {
    name: NAME,
    weak: false,
    labels: { map: [{ key: "CRI.managed", val: "portoshim" }, { key: "CRI.id", val: C }, { key: "CRI.kind", val: "container" }] },
    commandArgv: { argv: ["/bin/sh", "-c", "echo hi"] },
    env: {
      var: [
        { name: "PATH", value: "/bin" },
        { name: "HOSTNAME", value: "web" },
        { name: "MODE", value: "prod" },
        { name: "HOME", value: "/home/app" },
        { name: "USER" },
        { name: "container" },
      ],
    },
    cwd: "/work",
    user: "1000",
    group: "1000",
    umask: UMASK_022,
    isolate: true,
    enablePorto: "false",
    agingTime: AGING_TIME_FOREVER,
    oomIsFatal: false,
    stdoutLimit: 64n << 20n,
    capabilities: { cap: ALL_CAPABILITIES.filter((c) => DEFAULT_CAPABILITIES.includes(c)) },
    cpuGuarantee: 102 / 1024,
    cpuPeriod: 100_000_000n,
    cpuLimit: 0.2,
    memoryLimit: 128n << 20n,
    oomScoreAdj: 999,
    bind: {
      bind: [
        { source: "/var/lib/kubelet/pods/u1/etc-hosts", target: "/etc/hosts", flag: ["rec", "private"] },
        { source: "/var/lib/kubelet/pods/u1/containers/app/x", target: "/dev/termination-log", flag: ["rec", "private"] },
      ],
    },
    hostname: "web",
    resolvConf: "search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
  });
  assert.deepEqual(r.volumes, [
    {
      backend: "overlay",
      image: "registry.k8s.io/e2e-test-images/busybox:1.29-2",
      links: [{ container: NAME, containerRoot: true }],
      directories: [{ path: "work", permissions: 0o755 }],
    },
  ]);
  assert.equal(r.stopSignal, 15);
  assert.deepEqual(r.user, { uid: 1000, gid: 1000, username: "app", additionalGids: [1000] });
  assert.equal(r.podDevices, undefined);
  assert.deepEqual(r.warnings, []);
});

test("stop signal: container's, else the image's", () => {
  assert.equal(containerSpec(input({ image: img({ cmd: ["x"], stopSignal: "SIGQUIT" }) })).stopSignal, 3);
  assert.equal(containerSpec(input({ image: img({ cmd: ["x"], stopSignal: "SIGQUIT" }) }, { stopSignal: Signal.SIGINT })).stopSignal, 2);
});

test("namespaces: pid POD shares the pod's; pod IPC sysctls copied only to containers with their own IPC namespace", () => {
  const withSysctls = pod({ ...POD_INIT, linux: { ...POD_INIT.linux, sysctls: { "kernel.shm_rmid_forced": "1", "net.core.somaxconn": "1024" } } });
  const own = containerSpec(input({ pod: withSysctls }));
  assert.equal(own.spec.isolate, true);
  assert.deepEqual(own.spec.sysctl, { map: [{ key: "kernel.shm_rmid_forced", val: "1" }] });
  const shared = containerSpec(input({ pod: withSysctls }, { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.POD } } } }));
  assert.equal(shared.spec.isolate, false);
  assert.equal(shared.spec.sysctl, undefined);
});

test("hostname and resolv.conf: a mount there wins over Porto's own file", () => {
  const r = containerSpec(
    input({}, { mounts: [{ containerPath: "/etc/hostname", hostPath: "/h/hostname" }, { containerPath: "/etc/resolv.conf", hostPath: "/h/resolv" }] }),
  );
  assert.equal(r.spec.hostname, undefined);
  assert.equal(r.spec.resolvConf, "keep");
  assert.equal(containerSpec(input({ resolvConf: "nameserver 9.9.9.9\n" })).spec.resolvConf, "nameserver 9.9.9.9\n");
  const noDns = containerSpec(input({ pod: pod({ hostname: "" }) }));
  assert.equal(noDns.spec.hostname, undefined);
  assert.equal(noDns.spec.resolvConf, undefined);
});

test("working directory: created in the root volume only when the image lacks it", () => {
  assert.equal(containerSpec(input({}, { workingDir: "/home/app" })).volumes[0].directories, undefined);
  assert.deepEqual(containerSpec(input({}, { workingDir: "/srv/a/b" })).volumes[0].directories, [{ path: "srv/a/b", permissions: 0o755 }]);
  assert.equal(containerSpec(input({ rootfs: undefined }, { workingDir: "/srv" })).volumes[0].directories, undefined, "unknown image: nothing added");
  assert.equal(containerSpec(input({ rootVolumePath: "/place/portoshim_volumes/x" })).volumes[0].path, "/place/portoshim_volumes/x");
});

test("read-only root: mount points, portod's directories and written files are made in advance", () => {
  const host: HostFacts = { isDirectory: (p) => !p.endsWith("hosts") && !p.endsWith("/x"), emptyFile: "/place/portoshim_volumes/.empty" };
  const r = containerSpec(
    input(
      { host },
      {
        workingDir: "/home/app",
        mounts: [
          { containerPath: "/etc/hosts", hostPath: "/k/etc-hosts" },
          { containerPath: "/data", hostPath: "/k/data" },
          { containerPath: "/dev/termination-log", hostPath: "/k/x" },
          { containerPath: "/run/secrets/token", hostPath: "/k/token" },
          { containerPath: "/tmp", hostPath: "/k/tmp" },
        ],
        linux: { securityContext: { readonlyRootfs: true } },
      },
    ),
  );
  assert.equal(r.spec.rootReadonly, true);
  assert.deepEqual(r.volumes[0].directories, [
    { path: "data", permissions: 0o755 },
    { path: "run", permissions: 0o755 },
  ]);
  assert.deepEqual(r.volumes[0].shares, [
    { path: "etc/hostname", originPath: "/place/portoshim_volumes/.empty", cow: true },
    { path: "etc/hosts", originPath: "/place/portoshim_volumes/.empty", cow: true },
    { path: "etc/resolv.conf", originPath: "/place/portoshim_volumes/.empty", cow: true },
  ]);
  assert.ok(!r.warnings.some((w) => w.includes("readonly")), r.warnings.join());

  const blind = containerSpec(input({ rootfs: undefined }, { linux: { securityContext: { readonlyRootfs: true } } }));
  assert.deepEqual(blind.volumes[0].directories?.map((d) => d.path), ["dev", "proc", "run", "sys"]);
  assert.equal(blind.volumes[0].shares, undefined);
  assert.match(blind.warnings.join(), /no empty host file given/);
});

test("read-only root without DNS config: portod still writes the host's resolv.conf, so the file is made in advance", () => {
  const host: HostFacts = { emptyFile: "/place/portoshim_volumes/.empty", isDirectory: () => false };
  const ro = { linux: { securityContext: { readonlyRootfs: true } } };
  const table: [string, PodSandboxConfig, CtrInit, string[]][] = [
    ["DNS config and hostname", kubeletPod, ro, ["etc/hostname", "etc/resolv.conf"]],
    ["no DNS config (critest's pods): resolv_conf unset, portod writes the host's", pod({ ...POD_INIT, dnsConfig: undefined }), ro, ["etc/hostname", "etc/resolv.conf"]],
    ["no hostname either", pod({ metadata: POD_INIT.metadata }), ro, ["etc/resolv.conf"]],
    [
      "a mounted resolv.conf: resolv_conf keep, portod writes none",
      pod({ metadata: POD_INIT.metadata }),
      { ...ro, mounts: [{ containerPath: "/etc/resolv.conf", hostPath: "/k/resolv" }] },
      ["etc/resolv.conf"], // the mount point itself, which the image lacks
    ],
  ];
  for (const [name, p, c, files] of table) {
    const r = containerSpec(input({ host, pod: p }, c));
    assert.deepEqual(r.volumes[0].shares?.map((f) => f.path), files, name);
  }
  const keep = containerSpec(input({ host, pod: pod({ metadata: POD_INIT.metadata }), rootfs: { ...rootfs, exists: (p) => p === "/etc/resolv.conf" || rootfs.exists(p) } }, {
    ...ro,
    mounts: [{ containerPath: "/etc/resolv.conf", hostPath: "/k/resolv" }],
  }));
  assert.equal(keep.spec.resolvConf, "keep");
  assert.equal(keep.volumes[0].shares, undefined, "nothing to make when the image has the mount point and portod writes nothing");
  const rw = containerSpec(input({ host, pod: pod({ metadata: POD_INIT.metadata }) }));
  assert.equal(rw.volumes[0].shares, undefined, "a writable root needs nothing made");
});

test("masked and read-only paths in the image and under mounts, bound in depth order with the mounts, masks last", () => {
  const dirs = new Set(["/bin", "/etc", "/dev", "/proc", "/sys", "/tmp", "/home", "/home/app"]);
  const image = {
    ...rootfs,
    entry: (p: string): RootfsEntry | undefined => (dirs.has(p) ? { type: "directory" } : BUSYBOX_FILES.has(p) ? { type: "file" } : undefined),
  };
  const host: HostFacts = { exists: (p) => p.startsWith("/k/"), isDirectory: (p) => !p.endsWith(".txt"), emptyDir: "/v/.empty-dir", emptyFile: "/v/.empty" };
  const r = containerSpec(
    input(
      { host, rootfs: image, rootVolumePath: "/v/ctr" },
      {
        mounts: [
          { containerPath: "/tmp/cache/a", hostPath: "/k/cache" },
          { containerPath: "/data", hostPath: "/k/data" },
          { containerPath: "/tmp/x.txt", hostPath: "/k/x.txt" },
        ],
        linux: { securityContext: { maskedPaths: ["/bin/sh", "/data/secret.txt"], readonlyPaths: ["/tmp", "/data"] } },
      },
    ),
  );
  assert.deepEqual(r.spec.bind?.bind, [
    { source: "/k/data", target: "/data", flag: ["rec", "private"] },
    { source: "/v/ctr/tmp", target: "/tmp", flag: ["ro", "rec"] },
    { source: "/k/data", target: "/data", flag: ["ro", "rec"] },
    { source: "/k/x.txt", target: "/tmp/x.txt", flag: ["rec", "private"] },
    { source: "/k/cache", target: "/tmp/cache/a", flag: ["rec", "private"] },
    { source: "/dev/null", target: "/bin/sh", flag: ["ro", "dev"] },
    { source: "/dev/null", target: "/data/secret.txt", flag: ["ro", "dev"] },
  ]);
  // The read-only /tmp is bound before its mounts, so their mount points must already be there.
  assert.deepEqual(r.volumes[0].directories, [{ path: "tmp/cache/a", permissions: 0o755 }]);
  assert.deepEqual(r.volumes[0].shares, [{ path: "tmp/x.txt", originPath: "/v/.empty", cow: true }]);
  assert.ok(!r.warnings.some((w) => w.includes("_paths")), r.warnings.join());
});

test("devices: the container's list, and the grant the pod needs first", () => {
  const r = containerSpec(input({}, { devices: [{ hostPath: "/dev/fuse", containerPath: "/dev/fuse", permissions: "rw" }] }));
  assert.deepEqual(r.spec.devices, { device: [{ device: "/dev/fuse", access: "rw", path: "/dev/fuse" }] });
  assert.deepEqual(r.podDevices, { device: [{ device: "/dev/fuse", access: "rwm" }], merge: true });
});

test("masks, image volumes and seccomp come through", () => {
  const host: HostFacts = { exists: () => true, isDirectory: () => false };
  const r = containerSpec(
    input(
      { host },
      {
        mounts: [{ containerPath: "/models", image: { image: "sha256:abc" } }, { containerPath: "/srv", hostPath: "/srv", propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }],
        linux: { securityContext: { maskedPaths: ["/proc/keys"], seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault } } },
      },
    ),
  );
  assert.deepEqual(r.spec.bind, {
    bind: [
      { source: "/srv", target: "/srv", flag: ["rec"] },
      { source: "/dev/null", target: "/proc/keys", flag: ["ro", "dev"] },
    ],
  });
  assert.equal(r.volumes.length, 2);
  assert.equal(r.volumes[1].image, "sha256:abc");
  assert.ok(r.spec.seccomp);
});

test("what Porto cannot apply is reported: supplementary groups", () => {
  const r = containerSpec(input({}, { linux: { securityContext: { runAsUser: { value: 0n }, supplementalGroups: [4000n] } } }));
  assert.deepEqual(r.user.additionalGids, [0, 10, 4000]);
  assert.match(r.warnings.join(), /supplementary groups 0,10,4000: Porto sets only the primary group 0/);
});

test("errors name the CRI field", () => {
  throwsCode(() => containerSpec(input({ image: img() })), Code.InvalidArgument, "no command specified");
  throwsCode(() => containerSpec(input({}, { linux: { securityContext: { runAsGroup: { value: 1n } } } })), Code.InvalidArgument, "linux.security_context.run_as_group requires run_as_user");
  throwsCode(() => containerSpec(input({}, { mounts: [{ containerPath: "data", hostPath: "/x" }] })), Code.InvalidArgument, "mounts[0].container_path");
  throwsCode(() => containerSpec(input({}, { workingDir: "rel" })), Code.InvalidArgument, "working_dir");
  throwsCode(() => containerSpec(input({}, { linux: { resources: { cpuPeriod: 10n } } })), Code.InvalidArgument, "linux.resources.cpu_period");
  throwsCode(() => containerSpec(input({}, { linux: { securityContext: { capabilities: { addCapabilities: ["WINGS"] } } } })), Code.InvalidArgument, "add_capabilities[0]");
});
