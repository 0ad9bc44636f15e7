import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFromPorto, imageConfigPath, imageUser, parseImageConfig, readStoredConfig } from "../../src/images/image-config.js";

const ID = "e2ed4899eaa4d7a9ba725dd0d769faf1db026b1260fd6f19610dc8851c6ac28e";

describe("image config", () => {
  test("lives where portod 5.3.59 keeps it", () => {
    assert.equal(imageConfigPath("/place/porto_docker", ID), `/place/porto_docker/v1/images/e2/${ID}/config.json`);
  });

  test("an OCI config: every field the lifecycle needs", () => {
    const { config } = parseImageConfig(
      JSON.stringify({
        architecture: "amd64",
        config: {
          Entrypoint: ["/docker-entrypoint.sh"],
          Cmd: ["nginx", "-g", "daemon off;"],
          Env: ["PATH=/bin", "A=b=c"],
          WorkingDir: "/srv",
          User: "101:101",
          StopSignal: "SIGQUIT",
          ExposedPorts: { "80/tcp": {}, "53/udp": {} },
          Labels: { maintainer: "x", bad: 1 },
          Volumes: { "/data": {} },
        },
      }),
    );
    assert.deepEqual(config, {
      entrypoint: ["/docker-entrypoint.sh"],
      cmd: ["nginx", "-g", "daemon off;"],
      env: ["PATH=/bin", "A=b=c"],
      workingDir: "/srv",
      user: "101:101",
      stopSignal: "SIGQUIT",
      exposedPorts: ["80/tcp", "53/udp"],
      labels: { maintainer: "x" },
      volumes: ["/data"],
    });
  });

  test("nulls and missing fields are unset; old configs with only container_config work", () => {
    assert.deepEqual(parseImageConfig('{"config":{"Entrypoint":null,"Cmd":null}}').config.entrypoint, []);
    assert.equal(parseImageConfig('{"container_config":{"User":"www-data"}}').config.user, "www-data");
    assert.deepEqual(parseImageConfig("{}").config.env, []);
    assert.throws(() => parseImageConfig("[]"));
  });

  test("USER as CRI reports it: a numeric user is a uid, anything else a name, the group never", () => {
    assert.deepEqual(imageUser(""), { username: "" });
    assert.deepEqual(imageUser("1002"), { uid: 1002n, username: "" });
    assert.deepEqual(imageUser("1003:1004"), { uid: 1003n, username: "" });
    assert.deepEqual(imageUser("www-data"), { username: "www-data" });
    assert.deepEqual(imageUser("www-data:1004"), { username: "www-data" });
    assert.deepEqual(imageUser("0"), { uid: 0n, username: "" });
  });

  test("read from the store; a missing file is undefined", async () => {
    const dir = await mkdtemp(join(tmpdir(), "image-config-"));
    try {
      assert.equal(await readStoredConfig(dir, ID), undefined);
      await mkdir(join(dir, "v1", "images", "e2", ID), { recursive: true });
      await writeFile(imageConfigPath(dir, ID), '{"config":{"User":"1002","Cmd":["sh"]}}');
      const stored = await readStoredConfig(dir, ID);
      assert.equal(stored?.config.user, "1002");
      assert.deepEqual(stored?.raw, { config: { User: "1002", Cmd: ["sh"] } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("without the file, portod's merged command is all there is", () => {
    assert.deepEqual(configFromPorto(["/bin/sh", "-c", "x"], ["A=1"]).entrypoint, ["/bin/sh", "-c", "x"]);
  });
});
