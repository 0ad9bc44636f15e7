import { test } from "node:test";
import assert from "node:assert/strict";
import { Code } from "@connectrpc/connect";
import { SupplementalGroupsPolicy } from "../../gen/runtime/v1/api_pb.js";
import { parseGroup, parsePasswd, resolveUser } from "../../src/mapping/user.js";
import { secctx, throwsCode } from "./helpers.js";

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/bin/false

app:x:1000:1000:App,,,:/home/app:/bin/sh
nohome:x:1001:1001::::
broken:x:notanumber:1:::
short:x:5
`;
const GROUP = `root:x:0:
wheel:x:10:root,app
app:x:1000:app
extra:x:2000: app , other
other:x:3000:other
bad:x:abc:app
`;

test("parsePasswd and parseGroup skip comments, blanks and malformed lines", () => {
  assert.deepEqual(
    parsePasswd(PASSWD).map((p) => [p.name, p.uid, p.gid, p.home]),
    [
      ["root", 0, 0, "/root"],
      ["daemon", 1, 1, "/usr/sbin"],
      ["app", 1000, 1000, "/home/app"],
      ["nohome", 1001, 1001, ""],
    ],
  );
  assert.deepEqual(
    parseGroup(GROUP).map((g) => [g.name, g.gid, g.members]),
    [
      ["root", 0, []],
      ["wheel", 10, ["root", "app"]],
      ["app", 1000, ["app"]],
      ["extra", 2000, ["app", "other"]],
      ["other", 3000, ["other"]],
    ],
  );
});

type Case = [string, Parameters<typeof secctx>[0], string, { uid: number; gid: number; gids: number[]; home: string; name?: string }];

test("user resolution by containerd's rules", () => {
  const table: Case[] = [
    ["nothing: root", {}, "", { uid: 0, gid: 0, gids: [0, 10], home: "/root", name: "root" }],
    ["image uid: gid from passwd", {}, "1000", { uid: 1000, gid: 1000, gids: [10, 1000, 2000], home: "/home/app", name: "app" }],
    ["image name", {}, "app", { uid: 1000, gid: 1000, gids: [10, 1000, 2000], home: "/home/app", name: "app" }],
    ["image uid:gid", {}, "1000:3000", { uid: 1000, gid: 3000, gids: [10, 2000, 3000], home: "/home/app", name: "app" }],
    ["image name:group", {}, "app:other", { uid: 1000, gid: 3000, gids: [10, 2000, 3000], home: "/home/app", name: "app" }],
    ["image uid unknown: gid 0, home /", {}, "4242", { uid: 4242, gid: 0, gids: [0], home: "/" }],
    ["image uid:gid both unknown", {}, "4242:4343", { uid: 4242, gid: 4343, gids: [4343], home: "/" }],
    ["run_as_user over image", { runAsUser: { value: 1000n } }, "daemon", { uid: 1000, gid: 1000, gids: [10, 1000, 2000], home: "/home/app", name: "app" }],
    ["run_as_username over run_as_user", { runAsUser: { value: 1n }, runAsUsername: "app" }, "", { uid: 1000, gid: 1000, gids: [10, 1000, 2000], home: "/home/app", name: "app" }],
    ["run_as_user + run_as_group", { runAsUser: { value: 1000n }, runAsGroup: { value: 77n } }, "", { uid: 1000, gid: 77, gids: [10, 77, 2000], home: "/home/app", name: "app" }],
    ["run_as_user 0", { runAsUser: { value: 0n } }, "app", { uid: 0, gid: 0, gids: [0, 10], home: "/root", name: "root" }],
    ["supplemental groups merged and sorted", { runAsUser: { value: 1000n }, supplementalGroups: [5n, 2000n, 9000n] }, "", { uid: 1000, gid: 1000, gids: [5, 10, 1000, 2000, 9000], home: "/home/app", name: "app" }],
    ["Strict policy: no image groups", { runAsUser: { value: 1000n }, supplementalGroups: [5n], supplementalGroupsPolicy: SupplementalGroupsPolicy.Strict }, "", { uid: 1000, gid: 1000, gids: [5, 1000], home: "/home/app", name: "app" }],
    ["home empty in passwd: /", { runAsUser: { value: 1001n } }, "", { uid: 1001, gid: 1001, gids: [1001], home: "/", name: "nohome" }],
  ];
  for (const [name, sc, imageUser, want] of table) {
    const u = resolveUser({ securityContext: secctx(sc), imageUser, passwd: PASSWD, group: GROUP });
    assert.deepEqual(
      { uid: u.uid, gid: u.gid, gids: u.additionalGids, home: u.home, name: u.username },
      { uid: want.uid, gid: want.gid, gids: want.gids, home: want.home, name: want.name },
      name,
    );
    assert.equal(u.portoUser, String(want.uid), name);
    assert.equal(u.portoGroup, String(want.gid), name);
  }
});

test("user resolution without /etc/passwd or /etc/group", () => {
  const u = resolveUser({ imageUser: "1000" });
  assert.deepEqual([u.uid, u.gid, u.additionalGids, u.home, u.username], [1000, 0, [0], "/", undefined]);
  throwsCode(() => resolveUser({ imageUser: "app" }), Code.InvalidArgument, 'no user "app"');
});

test("user errors name the field", () => {
  const r = (sc: Parameters<typeof secctx>[0], imageUser = "") => () =>
    resolveUser({ securityContext: secctx(sc), imageUser, passwd: PASSWD, group: GROUP });
  throwsCode(r({ runAsGroup: { value: 5n } }), Code.InvalidArgument, "linux.security_context.run_as_group requires run_as_user");
  throwsCode(r({ runAsGroup: { value: 5n } }, "app"), Code.InvalidArgument, "run_as_group requires");
  throwsCode(r({ runAsUser: { value: -1n } }), Code.InvalidArgument, "linux.security_context.run_as_user");
  throwsCode(r({ runAsUser: { value: 1n << 32n } }), Code.InvalidArgument, "linux.security_context.run_as_user");
  throwsCode(r({ runAsUser: { value: 0n }, runAsGroup: { value: -3n } }), Code.InvalidArgument, "run_as_group");
  throwsCode(r({ runAsUsername: "ghost" }), Code.InvalidArgument, 'linux.security_context.run_as_username: no user "ghost"');
  throwsCode(r({}, "ghost"), Code.InvalidArgument, "image config User");
  throwsCode(r({}, "app:ghosts"), Code.InvalidArgument, 'no group "ghosts"');
  throwsCode(r({}, "a:b:c"), Code.InvalidArgument, "not user[:group]");
  throwsCode(r({}, "app:"), Code.InvalidArgument, "empty group");
  throwsCode(r({}, "99999999999"), Code.InvalidArgument, "out of range");
  throwsCode(r({ runAsUser: { value: 0n }, supplementalGroups: [-1n] }), Code.InvalidArgument, "supplemental_groups[0]");
});
