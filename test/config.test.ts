import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  defaultConfig,
  loadConfig,
  parseConfig,
  parseDuration,
  redactConfig,
} from "../src/config.js";
import type { Config } from "../src/config.js";

const dir = mkdtempSync(join(tmpdir(), "portoshim-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const FILE = "/etc/portoshim.yaml";

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Parses `text` expecting a refusal; returns the error for further checks. */
function refused(text: string, keyPath: string, reason?: RegExp): ConfigError {
  let caught: unknown;
  try {
    parseConfig(text, FILE);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for:\n${text}\ngot ${String(caught)}`);
  assert.equal(caught.keyPath, keyPath, caught.message);
  if (keyPath !== "") assert.ok(caught.message.includes(keyPath), `message names the key: ${caught.message}`);
  if (reason !== undefined) assert.match(caught.reason, reason);
  return caught;
}

function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

describe("defaults", () => {
  test("match the documented values", () => {
    const c = defaultConfig();
    assert.deepEqual(c, {
      portoshim: {
        configPath: "/etc/portoshim.yaml",
        socket: "/run/portoshim.sock",
        logsDir: "/var/log/portoshim",
        volumesDir: "/place/portoshim_volumes",
        stateDir: "/var/lib/portoshim",
      },
      porto: {
        runtimeName: "porto",
        socket: "/run/portod.socket",
        socketTimeoutMs: 300_000,
        imagesDir: "/place/porto_docker",
      },
      cni: { confDir: "/etc/cni/net.d", binDir: "/opt/cni/bin", netnsDir: "/var/run/netns", pluginTimeoutMs: 120_000 },
      streamingServer: { address: "::", port: 7255 },
      images: { pauseImage: "registry.k8s.io/pause:3.7", registries: [], pullTimeoutMs: 1_800_000 },
    } satisfies Config);
    assert.equal(DEFAULT_CONFIG_PATH, "/etc/portoshim.yaml");
    assert.ok(isDeepFrozen(c));
  });

  test("a missing file at a non-explicit path means all defaults", () => {
    const p = join(dir, "absent.yaml");
    assert.deepEqual(loadConfig({ path: p, explicit: false }), defaultConfig(p));
  });

  for (const [name, text] of [
    ["empty file", ""],
    ["comments only", "# nothing here\n"],
    ["null sections", "Portoshim:\nPorto:\nCNI:\nStreamingServer:\nImages:\n"],
    ["empty mappings", "Portoshim: {}\nPorto: {}\nCNI: {}\nStreamingServer: {}\nImages: {}\n"],
    ["null keys", "Porto:\n  Socket:\n  SocketTimeout:\nImages:\n  Registries:\n"],
  ] as const) {
    test(`${name} means defaults`, () => {
      assert.deepEqual(parseConfig(text, FILE), defaultConfig(FILE));
    });
  }

  test("the example in packaging/ states every default", () => {
    const example = new URL("../packaging/portoshim.yaml", import.meta.url);
    assert.deepEqual(parseConfig(readFileSync(example, "utf8"), FILE), defaultConfig(FILE));
  });
});

describe("loading", () => {
  test("the seed's example file", () => {
    const p = write(
      "seed.yaml",
      [
        "Portoshim:",
        "  LogsDir: /var/log/portoshim",
        "Images:",
        "  Registries:",
        "  - Host: registry-1.docker.io",
        "    AuthPath: https://auth.docker.io/token",
        "    AuthService: registry.docker.io",
        "",
      ].join("\n"),
    );
    const c = loadConfig({ path: p, explicit: true });
    const d = defaultConfig(p);
    assert.deepEqual(c.images.registries, [
      { host: "registry-1.docker.io", authPath: "https://auth.docker.io/token", authService: "registry.docker.io" },
    ]);
    assert.deepEqual({ ...c, images: { ...c.images, registries: [] } }, d);
    assert.ok(isDeepFrozen(c));
  });

  test("every key set to a non-default value", () => {
    const c = parseConfig(
      [
        "Portoshim:",
        "  Socket: /run/shim/s.sock",
        "  LogsDir: /logs/",
        "  VolumesDir: /v",
        "  StateDir: /state//shim",
        "Porto:",
        "  RuntimeName: porto2",
        "  Socket: /run/p.sock",
        "  SocketTimeout: 30s",
        "  ImagesDir: /img",
        "CNI:",
        "  ConfDir: /c",
        "  BinDir: /b",
        "  NetnsDir: /n",
        "  PluginTimeout: 30s",
        "StreamingServer:",
        "  Address: 127.0.0.1",
        "  Port: 10010",
        "Images:",
        "  PauseImage: example.com/pause:1",
        "  PullTimeout: 2h",
      ].join("\n"),
      FILE,
    );
    assert.deepEqual(c.portoshim, {
      configPath: FILE,
      socket: "/run/shim/s.sock",
      logsDir: "/logs",
      volumesDir: "/v",
      stateDir: "/state/shim",
    });
    assert.deepEqual(c.porto, { runtimeName: "porto2", socket: "/run/p.sock", socketTimeoutMs: 30_000, imagesDir: "/img" });
    assert.deepEqual(c.cni, { confDir: "/c", binDir: "/b", netnsDir: "/n", pluginTimeoutMs: 30_000 });
    assert.deepEqual(c.streamingServer, { address: "127.0.0.1", port: 10010 });
    assert.equal(c.images.pauseImage, "example.com/pause:1");
    assert.equal(c.images.pullTimeoutMs, 7_200_000);
  });

  test("ConfigPath inside the file does not redirect loading", () => {
    const c = parseConfig("Portoshim:\n  ConfigPath: /elsewhere.yaml\n", FILE);
    assert.equal(c.portoshim.configPath, FILE);
  });

  test("an explicit path that does not exist is refused", () => {
    const p = join(dir, "nope.yaml");
    assert.throws(
      () => loadConfig({ path: p, explicit: true }),
      (err: unknown) => err instanceof ConfigError && err.keyPath === "" && err.file === p && err.message.includes(p),
    );
  });

  test("an unreadable file is refused, explicit or not", () => {
    const p = join(dir, "is-a-dir.yaml");
    mkdirSync(p);
    for (const explicit of [true, false]) {
      assert.throws(() => loadConfig({ path: p, explicit }), (err: unknown) => err instanceof ConfigError && err.message.includes(p));
    }
  });
});

describe("refusals name the key", () => {
  test("invalid YAML, with its line", () => {
    const err = refused("Porto:\n  Socket: /a\n\tImagesDir: /b\n", "", /invalid YAML at line 3/);
    assert.equal(err.line, 3);
  });

  test("duplicate keys and multiple documents", () => {
    refused("Porto:\n  Socket: /a\n  Socket: /b\n", "", /invalid YAML/);
    refused("Porto: {}\n---\nCNI: {}\n", "", /invalid YAML/);
  });

  test("a top level that is not a mapping", () => {
    refused("- Porto\n", "", /mapping of sections/);
  });

  test("unknown keys at every level, with the line of the key", () => {
    assert.equal(refused("Porto: {}\nPortod: {}\n", "Portod", /unknown key/).line, 2);
    refused("Porto:\n  Sockett: /a\n", "Porto.Sockett", /unknown key/);
    refused("Images:\n  Registries:\n  - Host: a\n  - Host: b\n    Password: x\n", "Images.Registries[1].Password", /unknown key/);
  });

  test("unknown-key hints", () => {
    refused("Porto:\n  socket: /a\n", "Porto.socket", /did you mean Socket\?/);
    refused("StateDir: /a\n", "StateDir", /belongs in the Portoshim section/);
    refused("Porto:\n  StateDir: /a\n", "Porto.StateDir", /belongs in the Portoshim section/);
  });

  test("wrong types", () => {
    refused("Portoshim: [a]\n", "Portoshim", /expected a mapping/);
    refused("Portoshim:\n  Socket: 123\n", "Portoshim.Socket", /expected a string/);
    refused("Porto:\n  RuntimeName: true\n", "Porto.RuntimeName", /expected a string/);
    refused("Porto:\n  SocketTimeout: [5m]\n", "Porto.SocketTimeout", /expected a duration/);
    refused("StreamingServer:\n  Port: '7255'\n", "StreamingServer.Port", /integer/);
    refused("StreamingServer:\n  Port: 7255.5\n", "StreamingServer.Port", /integer/);
    refused("Images:\n  Registries:\n    Host: a\n", "Images.Registries", /list/);
    refused("Images:\n  Registries:\n  - registry-1.docker.io\n", "Images.Registries[0]", /mapping/);
    refused("Images:\n  Registries:\n  - Host: [a]\n", "Images.Registries[0].Host", /string/);
  });

  test("empty names", () => {
    refused("Porto:\n  RuntimeName: ''\n", "Porto.RuntimeName", /non-empty/);
    refused("Images:\n  PauseImage: 'a b'\n", "Images.PauseImage", /without spaces/);
  });

  test("ports out of range; the ends are fine", () => {
    for (const port of [0, -1, 65536, 100000]) {
      refused(`StreamingServer:\n  Port: ${port}\n`, "StreamingServer.Port", /between 1 and 65535/);
    }
    for (const port of [1, 65535]) {
      assert.equal(parseConfig(`StreamingServer:\n  Port: ${port}\n`, FILE).streamingServer.port, port);
    }
  });

  test("relative or empty paths, for every path key", () => {
    const pathKeys = [
      "Portoshim.ConfigPath",
      "Portoshim.Socket",
      "Portoshim.LogsDir",
      "Portoshim.VolumesDir",
      "Portoshim.StateDir",
      "Porto.Socket",
      "Porto.ImagesDir",
      "CNI.ConfDir",
      "CNI.BinDir",
      "CNI.NetnsDir",
    ];
    for (const keyPath of pathKeys) {
      const [section, key] = keyPath.split(".");
      refused(`${section}:\n  ${key}: var/run/x\n`, keyPath, /absolute path/);
      refused(`${section}:\n  ${key}: ./x\n`, keyPath, /absolute path/);
      refused(`${section}:\n  ${key}: ''\n`, keyPath, /absolute path/);
    }
  });

  test("CNI.BinDir takes several absolute directories separated by colons", () => {
    assert.equal(parseConfig("CNI:\n  BinDir: /opt/cni/bin/:/usr//lib/cni\n", FILE).cni.binDir, "/opt/cni/bin:/usr/lib/cni");
    refused("CNI:\n  BinDir: /opt/cni/bin:usr/lib/cni\n", "CNI.BinDir", /absolute path, got "usr\/lib\/cni"/);
    refused("CNI:\n  BinDir: '/opt/cni/bin:'\n", "CNI.BinDir", /absolute path, got an empty string/);
  });

  test("Images.PullTimeout is a duration like Porto.SocketTimeout, 30m by default", () => {
    assert.equal(parseConfig("Images:\n  PullTimeout: 1h30m\n", FILE).images.pullTimeoutMs, 5_400_000);
    assert.equal(parseConfig("Images:\n  PullTimeout:\n", FILE).images.pullTimeoutMs, 1_800_000);
    refused("Images:\n  PullTimeout: 600\n", "Images.PullTimeout", /bare number has no unit/);
    refused("Images:\n  PullTimeout: 0s\n", "Images.PullTimeout", /at least 1ms/);
    refused("Images:\n  PullTimeout: 25d\n", "Images.PullTimeout", /invalid duration/);
  });

  test("CNI.PluginTimeout is a duration like Porto.SocketTimeout", () => {
    assert.equal(parseConfig("CNI:\n  PluginTimeout: 1m30s\n", FILE).cni.pluginTimeoutMs, 90_000);
    refused("CNI:\n  PluginTimeout: 120\n", "CNI.PluginTimeout", /bare number has no unit/);
    refused("CNI:\n  PluginTimeout: 0s\n", "CNI.PluginTimeout", /at least 1ms/);
  });

  test("socket paths too long for sun_path", () => {
    refused(`Portoshim:\n  Socket: /${"s".repeat(107)}\n`, "Portoshim.Socket", /107/);
    refused(`Porto:\n  Socket: /${"s".repeat(120)}\n`, "Porto.Socket", /107/);
    assert.equal(parseConfig(`Porto:\n  Socket: /${"s".repeat(106)}\n`, FILE).porto.socket.length, 107);
  });

  test("StreamingServer.Address must be an IP literal", () => {
    for (const bad of ["localhost", "example.com", "'[1.2.3.4]'", "'[::'", "'::]'", "1.2.3", "''"]) {
      refused(`StreamingServer:\n  Address: ${bad}\n`, "StreamingServer.Address", /IP address/);
    }
    refused("StreamingServer:\n  Address: [::]\n", "StreamingServer.Address", /quote/);
    const ok: Array<[string, string]> = [
      ['"[::]"', "::"],
      ["'::'", "::"],
      ["0.0.0.0", "0.0.0.0"],
      ["'[::1]'", "::1"],
      ["10.1.2.3", "10.1.2.3"],
    ];
    for (const [yaml, address] of ok) {
      assert.equal(parseConfig(`StreamingServer:\n  Address: ${yaml}\n`, FILE).streamingServer.address, address);
    }
  });

  test("registry Host: empty, missing, with scheme or path, duplicated", () => {
    refused("Images:\n  Registries:\n  - Host: a\n  - Host: ''\n", "Images.Registries[1].Host", /non-empty Host/);
    const missing = refused("Images:\n  Registries:\n  - Host: a\n  - AuthService: s\n", "Images.Registries[1].Host", /non-empty Host/);
    assert.equal(missing.line, 4);
    refused("Images:\n  Registries:\n  - Host: https://registry-1.docker.io\n", "Images.Registries[0].Host", /bare host/);
    refused("Images:\n  Registries:\n  - Host: r.io/path\n", "Images.Registries[0].Host", /bare host/);
    refused("Images:\n  Registries:\n  - Host: r.io\n  - Host: q.io\n  - Host: r.io\n", "Images.Registries[2].Host", /duplicate.*Registries\[0\]/);
    assert.equal(parseConfig("Images:\n  Registries:\n  - Host: localhost:5000\n", FILE).images.registries[0]!.host, "localhost:5000");
  });

  test("registry AuthPath must be an http(s) URL; AuthToken a string, never echoed", () => {
    refused("Images:\n  Registries:\n  - Host: a\n    AuthPath: auth.docker.io/token\n", "Images.Registries[0].AuthPath", /URL/);
    refused("Images:\n  Registries:\n  - Host: a\n    AuthPath: ftp://x/token\n", "Images.Registries[0].AuthPath", /URL/);
    const err = refused("Images:\n  Registries:\n  - Host: a\n    AuthToken: 987654321\n", "Images.Registries[0].AuthToken", /a number/);
    assert.ok(!err.message.includes("987654321"));
  });

  test("the error message carries file, line and key", () => {
    const err = refused("# c\nPorto:\n  SocketTimeout: soon\n", "Porto.SocketTimeout");
    assert.equal(err.file, FILE);
    assert.equal(err.line, 3);
    assert.ok(err.message.startsWith(`${FILE}:3: Porto.SocketTimeout: `), err.message);
  });
});

describe("durations", () => {
  const good: Array<[string, number]> = [
    ["5m", 300_000],
    ["30s", 30_000],
    ["1h30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["300ms", 300],
    ["2h45m10s", 9_910_000],
    ["1.1s", 1100],
    [".5s", 500],
    ["1.s", 1000],
    ["500us", 0.5],
    ["500\u00b5s", 0.5],
    ["1500ns", 0.0015],
    ["0", 0],
    ["+5s", 5000],
    ["-5s", -5000],
  ];
  for (const [text, ms] of good) {
    test(`parseDuration(${JSON.stringify(text)}) = ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  }
  for (const bad of ["", "5", "m", "5x", "1d", "5 m", "1h 30m", ".s", "--5s", "5m-3s", "five"]) {
    test(`parseDuration(${JSON.stringify(bad)}) throws`, () => assert.throws(() => parseDuration(bad), RangeError));
  }

  test("Porto.SocketTimeout accepts Go durations and stores whole milliseconds", () => {
    const at = (v: string) => parseConfig(`Porto:\n  SocketTimeout: ${v}\n`, FILE).porto.socketTimeoutMs;
    assert.equal(at("5m"), 300_000);
    assert.equal(at("1h30m"), 5_400_000);
    assert.equal(at("1ms"), 1);
    assert.equal(at("1500us"), 2, "rounded up, never shortened");
    assert.equal(at("596h"), 2_145_600_000);
  });

  test("Porto.SocketTimeout refuses bare numbers, non-positive and overlong values", () => {
    refused("Porto:\n  SocketTimeout: 300\n", "Porto.SocketTimeout", /bare number has no unit/);
    refused("Porto:\n  SocketTimeout: 0s\n", "Porto.SocketTimeout", /at least 1ms/);
    refused("Porto:\n  SocketTimeout: -5m\n", "Porto.SocketTimeout", /at least 1ms/);
    refused("Porto:\n  SocketTimeout: 999us\n", "Porto.SocketTimeout", /at least 1ms/);
    refused("Porto:\n  SocketTimeout: 600h\n", "Porto.SocketTimeout", /at most/);
    refused("Porto:\n  SocketTimeout: 5 minutes\n", "Porto.SocketTimeout", /invalid duration/);
    refused("Porto:\n  SocketTimeout: ''\n", "Porto.SocketTimeout", /invalid duration/);
  });
});

describe("AuthToken", () => {
  const reg = (token: string) => `Images:\n  Registries:\n  - Host: r.io\n    AuthToken: ${token}\n`;

  test("a literal token is kept as is; an empty one means none", () => {
    assert.equal(parseConfig(reg("abc"), FILE).images.registries[0]!.authToken, "abc");
    assert.equal(parseConfig(reg("''"), FILE).images.registries[0]!.authToken, undefined);
  });

  test("file: reads the token and drops the trailing newline", () => {
    for (const [name, content] of [
      ["t1", "tok-1\n"],
      ["t2", "tok-1\r\n"],
      ["t3", "tok-1"],
    ] as const) {
      const p = write(name, content);
      const r = parseConfig(reg(`file:${p}`), FILE).images.registries[0]!;
      assert.equal(r.authToken, "tok-1");
      assert.equal(r.authTokenFile, p);
    }
  });

  test("file: with a missing file names the key and the file", () => {
    const p = join(dir, "no-token");
    const err = refused(reg(`file:${p}`), "Images.Registries[0].AuthToken", /cannot read token file/);
    assert.ok(err.message.includes(p));
  });

  test("file: with an empty file or a relative path is refused", () => {
    const p = write("empty-token", "\n");
    refused(reg(`file:${p}`), "Images.Registries[0].AuthToken", /empty/);
    refused(reg("file:token.txt"), "Images.Registries[0].AuthToken", /absolute path/);
  });
});

describe("redactConfig", () => {
  test("replaces tokens, keeps everything else, leaves the input alone", () => {
    const p = write("t-redact", "from-file\n");
    const c = parseConfig(
      `Images:\n  Registries:\n  - Host: a.io\n    AuthToken: literal\n  - Host: b.io\n    AuthToken: file:${p}\n  - Host: c.io\n`,
      FILE,
    );
    const r = redactConfig(c);
    assert.deepEqual(r.images.registries, [
      { host: "a.io", authToken: "<redacted>" },
      { host: "b.io", authToken: "<redacted>", authTokenFile: p },
      { host: "c.io" },
    ]);
    assert.equal(c.images.registries[0]!.authToken, "literal");
    assert.deepEqual({ ...r, images: null }, { ...c, images: null });
    assert.ok(!JSON.stringify(r).includes("literal") && !JSON.stringify(r).includes("from-file"));
    assert.ok(isDeepFrozen(r));
  });
});
