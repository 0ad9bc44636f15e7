import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { KeyValueSchema } from "../../gen/runtime/v1/api_pb.js";
import {
  DEFAULT_PATH,
  envValue,
  portoEnv,
  processArgs,
  processEnv,
  resolveExecutable,
  workingDir,
} from "../../src/mapping/process.js";
import { bytes, img, throwsCode } from "./helpers.js";

const kv = (key: string, value: string) => create(KeyValueSchema, { key, value: bytes(value) });

test("argv follows containerd's command/args/Entrypoint/Cmd rules", () => {
  const image = img({ entrypoint: ["/entry", "-e"], cmd: ["default", "cmd"] });
  const table: [string, string[], string[], typeof image, string[]][] = [
    ["nothing set: Entrypoint + Cmd", [], [], image, ["/entry", "-e", "default", "cmd"]],
    ["args only: Entrypoint + args", [], ["a", "b"], image, ["/entry", "-e", "a", "b"]],
    ["command only: command, Cmd dropped", ["/bin/x"], [], image, ["/bin/x"]],
    ["command + args", ["/bin/x", "-v"], ["a"], image, ["/bin/x", "-v", "a"]],
    ["no Entrypoint: Cmd", [], [], img({ cmd: ["sh"] }), ["sh"]],
    ["no Entrypoint, args: args", [], ["echo", "hi"], img({ cmd: ["sh"] }), ["echo", "hi"]],
    ['Entrypoint [""] means none', [], [], img({ entrypoint: [""], cmd: ["sh"] }), ["sh"]],
    ["arguments kept verbatim: spaces, empty, quotes, $", ["sh", "-c", 'echo "$0" $HOME'], ["a b", "", "'q'"], img(), ["sh", "-c", 'echo "$0" $HOME', "a b", "", "'q'"]],
    ["no shell wrapping of a relative name", ["sleep"], ["1"], img(), ["sleep", "1"]],
  ];
  for (const [name, command, args, image2, want] of table) assert.deepEqual(processArgs(command, args, image2), want, name);
});

test("argv: nothing to run or a NUL byte is InvalidArgument", () => {
  throwsCode(() => processArgs([], [], img()), Code.InvalidArgument, "no command specified");
  throwsCode(() => processArgs([], [], img({ entrypoint: [""] })), Code.InvalidArgument, "no command specified");
  throwsCode(() => processArgs(["a\0b"], [], img()), Code.InvalidArgument, "NUL");
});

test("working dir: config, else image WorkingDir, else /; normalized; relative refused", () => {
  assert.equal(workingDir("/app", img({ workingDir: "/img" })), "/app");
  assert.equal(workingDir("", img({ workingDir: "/img" })), "/img");
  assert.equal(workingDir("", img()), "/");
  assert.equal(workingDir("/a//b/../c/", img()), "/a/c");
  throwsCode(() => workingDir("rel", img()), Code.InvalidArgument, "working_dir");
  throwsCode(() => workingDir("", img({ workingDir: "rel" })), Code.InvalidArgument, "image config WorkingDir");
});

test("env: PATH default, HOSTNAME, image env, then config envs replacing by name in place", () => {
  const env = processEnv({
    hostname: "pod-1",
    image: ["PATH=/img/bin", "A=image", "B=image", "LANG=C"],
    config: [kv("B", "config"), kv("NEW", "x"), kv("A", "config"), kv("NEW", "y")],
  });
  assert.deepEqual(env, ["PATH=/img/bin", "HOSTNAME=pod-1", "A=config", "B=config", "LANG=C", "NEW=y"]);
});

test("env: image without PATH keeps the default; an image entry without = removes the name", () => {
  assert.deepEqual(processEnv({ hostname: "h", image: [], config: [] }), [`PATH=${DEFAULT_PATH}`, "HOSTNAME=h"]);
  assert.deepEqual(processEnv({ hostname: "h", image: ["X=1", "HOSTNAME"], config: [] }), [`PATH=${DEFAULT_PATH}`, "X=1"]);
  assert.deepEqual(processEnv({ hostname: "h", image: [], config: [kv("HOSTNAME", "mine")] }), [`PATH=${DEFAULT_PATH}`, "HOSTNAME=mine"]);
  assert.deepEqual(processEnv({ hostname: "", image: [], config: [] }), [`PATH=${DEFAULT_PATH}`], "no hostname, no HOSTNAME");
  // A terminal gets TERM=xterm as with containerd, which the image or the config may replace.
  assert.deepEqual(processEnv({ hostname: "h", image: [], config: [], tty: true }), [`PATH=${DEFAULT_PATH}`, "TERM=xterm", "HOSTNAME=h"]);
  assert.deepEqual(processEnv({ hostname: "h", image: ["TERM=vt100"], config: [], tty: true }), [`PATH=${DEFAULT_PATH}`, "TERM=vt100", "HOSTNAME=h"]);
  assert.deepEqual(processEnv({ hostname: "h", image: [], config: [kv("TERM", "dumb")], tty: true }), [`PATH=${DEFAULT_PATH}`, "TERM=dumb", "HOSTNAME=h"]);
});

test("env: values are bytes kept exactly (separators, newlines, UTF-8)", () => {
  const env = processEnv({ hostname: "h", image: [], config: [kv("S", "a;b\\c=d\ne"), kv("U", "é✓"), kv("E", "")] });
  assert.equal(envValue(env, "S"), "a;b\\c=d\ne");
  assert.equal(envValue(env, "U"), "é✓");
  assert.equal(envValue(env, "E"), "");
  assert.equal(envValue(env, "MISSING"), undefined);
});

test("env: bad names and NUL bytes are InvalidArgument naming the entry", () => {
  throwsCode(() => processEnv({ hostname: "h", image: [], config: [kv("", "v")] }), Code.InvalidArgument, "envs[0].key");
  throwsCode(() => processEnv({ hostname: "h", image: [], config: [kv("OK", "1"), kv("A=B", "v")] }), Code.InvalidArgument, "envs[1].key");
  throwsCode(() => processEnv({ hostname: "h", image: [], config: [kv("N", "a\0b")] }), Code.InvalidArgument, "envs[0]");
});

test("portoEnv: entries in order, HOME added when missing, Porto's USER and container unset", () => {
  assert.deepEqual(portoEnv(["PATH=/bin", "A=1=2"], "/home/u"), {
    var: [
      { name: "PATH", value: "/bin" },
      { name: "A", value: "1=2" },
      { name: "HOME", value: "/home/u" },
      { name: "USER" },
      { name: "container" },
    ],
  });
  assert.deepEqual(portoEnv(["HOME=/x", "USER=me", "container=docker"], "/home/u"), {
    var: [
      { name: "HOME", value: "/x" },
      { name: "USER", value: "me" },
      { name: "container", value: "docker" },
    ],
  });
});

test("resolveExecutable: PATH order, names with a slash, empty PATH entries, missing", () => {
  const files = new Set(["/usr/bin/ls", "/bin/ls", "/custom/tool", "/app/run.sh", "/srv/local"]);
  const exists = (p: string) => files.has(p);
  const table: [string, string | undefined, string, string | undefined][] = [
    ["ls", "/usr/local/bin:/usr/bin:/bin", "/", "/usr/bin/ls"],
    ["ls", "/bin:/usr/bin", "/", "/bin/ls"],
    ["tool", "/custom:/bin", "/", "/custom/tool"],
    ["tool", undefined, "/", undefined],
    ["ls", undefined, "/", "/usr/bin/ls"],
    ["/app/run.sh", "/bin", "/", "/app/run.sh"],
    ["./local", "/bin", "/srv", "/srv/local"],
    ["/nope", "/bin", "/", undefined],
    ["local", "/bin::", "/srv", "/srv/local"],
    ["", "/bin", "/", undefined],
  ];
  for (const [argv0, path, cwd, want] of table) assert.equal(resolveExecutable(argv0, path, exists, cwd), want, `${argv0} in ${path}`);
});
