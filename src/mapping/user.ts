/**
 * Who the container's process runs as, by containerd's rules: run_as_username
 * over run_as_user, run_as_group with either, else the image's USER ("uid",
 * "name", "uid:gid", "name:group"); names are looked up in the image's own
 * /etc/passwd and /etc/group (the caller reads them; these are pure parsers),
 * never the host's.
 *
 * What reaches Porto is numbers only: `user` and `group` take names or
 * numbers, and a name would be looked up in the host's databases. A number
 * portod does not find in the host's passwd is used as is (checked on
 * 5.3.59: user=1234 group=5678 runs as uid=1234 gid=5678 groups=5678).
 *
 * Supplementary groups cannot be given to Porto: TCred.grp is output-only and
 * portod sets the groups itself at start from the HOST's group database
 * (getgrouplist of the host user that has the uid, plus the gid). So
 * `additionalGids` is what containerd would set and what the status reports;
 * the process gets only its primary gid (plus any host groups listing the
 * host user with that uid as a member).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { SupplementalGroupsPolicy } from "../../gen/runtime/v1/api_pb.js";
import type { LinuxContainerSecurityContext } from "../../gen/runtime/v1/api_pb.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 0xffff_fffe; // (uid_t)-1 means "no change" to the kernel

function parseId(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** /etc/passwd lines "name:password:uid:gid:gecos:home:shell"; blank, comment and malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (f[0] === "" || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? "", shell: f[6] ?? "" });
  }
  return out;
}

/** /etc/group lines "name:password:gid:member,member"; blank, comment and malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 3) continue;
    const gid = parseId(f[2]);
    if (f[0] === "" || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? "").split(",").map((m) => m.trim()).filter((m) => m !== "") });
  }
  return out;
}

export interface UserInput {
  securityContext?: LinuxContainerSecurityContext;
  /** The image's USER; "" for none. */
  imageUser: string;
  /** The image's /etc/passwd and /etc/group text; absent when the image has none. */
  passwd?: string;
  group?: string;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** The image's passwd name for uid, when it has one. */
  username?: string;
  /**
   * Supplementary groups as containerd computes them, sorted: the primary
   * gid, the image's groups listing the user (unless the policy is Strict),
   * and supplemental_groups. Porto cannot apply these (see the module comment).
   */
  additionalGids: number[];
  /** HOME for the process: the passwd entry's home, else "/" (runc's rule). */
  home: string;
  /** Porto `user` and `group`: decimal numbers, so portod never consults the host's databases. */
  portoUser: string;
  portoGroup: string;
}

const SC = "linux.security_context";

/**
 * The identity of a container's process. Throws InvalidArgument naming the
 * field for run_as_group without a user, negative or too large ids, and names
 * the image does not define.
 */
export function resolveUser(input: UserInput): ResolvedUser {
  const sc = input.securityContext;
  const passwd = input.passwd === undefined ? [] : parsePasswd(input.passwd);
  const groups = input.group === undefined ? [] : parseGroup(input.group);

  // generateUserString: the username wins over the uid; a group needs one of them.
  let userStr = "";
  let source = "image config User";
  if (sc?.runAsUser) {
    userStr = String(checkId(sc.runAsUser.value, `${SC}.run_as_user`));
    source = `${SC}.run_as_user`;
  }
  if (sc?.runAsUsername) {
    userStr = sc.runAsUsername;
    source = `${SC}.run_as_username`;
  }
  if (sc?.runAsGroup) {
    const gid = checkId(sc.runAsGroup.value, `${SC}.run_as_group`);
    if (userStr === "")
      throw new ConnectError(`${SC}.run_as_group requires run_as_user or run_as_username`, Code.InvalidArgument);
    userStr = `${userStr}:${gid}`;
  }
  if (userStr === "") userStr = input.imageUser;

  const { uid, gid } = parseUserString(userStr, source, passwd, groups);
  const entry = passwd.find((p) => p.uid === uid);

  // WithAdditionalGIDs looks at the user part only (run_as_username, run_as_user, image USER, else "0").
  let groupUser = sc?.runAsUsername || (sc?.runAsUser ? String(sc.runAsUser.value) : "") || input.imageUser.split(":")[0] || "0";
  if (parseId(groupUser) !== undefined) groupUser = passwd.find((p) => p.uid === Number(groupUser))?.name ?? "";
  const gids = new Set<number>([gid]);
  if (groupUser !== "" && sc?.supplementalGroupsPolicy !== SupplementalGroupsPolicy.Strict) {
    for (const g of groups) if (g.name !== groupUser && g.members.includes(groupUser)) gids.add(g.gid);
  }
  for (const [i, g] of (sc?.supplementalGroups ?? []).entries()) gids.add(checkId(g, `${SC}.supplemental_groups[${i}]`));

  return {
    uid,
    gid,
    username: entry?.name,
    additionalGids: [...gids].sort((a, b) => a - b),
    home: entry?.home || "/",
    portoUser: String(uid),
    portoGroup: String(gid),
  };
}

function checkId(value: bigint, field: string): number {
  if (value < 0n || value > BigInt(MAX_ID))
    throw new ConnectError(`${field}: ${value} is not a valid id (0..${MAX_ID})`, Code.InvalidArgument);
  return Number(value);
}

/** oci.WithUser: "", "uid", "name", "uid:gid", "name:group", "uid:group", "name:gid". */
function parseUserString(
  userStr: string,
  source: string,
  passwd: PasswdEntry[],
  groups: GroupEntry[],
): { uid: number; gid: number } {
  if (userStr === "") return { uid: 0, gid: 0 };
  const parts = userStr.split(":");
  if (parts.length > 2 || parts[0] === "")
    throw new ConnectError(`${source}: ${JSON.stringify(userStr)} is not user[:group]`, Code.InvalidArgument);
  const [u, g] = parts;
  const numericUid = parseId(u);
  if (/^[0-9]+$/.test(u) && numericUid === undefined)
    throw new ConnectError(`${source}: uid ${u} is out of range`, Code.InvalidArgument);

  let uid: number;
  let gid: number;
  if (numericUid !== undefined) {
    uid = numericUid;
    // A uid alone takes its gid from the image's passwd, else 0 (WithUserID).
    gid = passwd.find((p) => p.uid === uid)?.gid ?? 0;
  } else {
    const entry = passwd.find((p) => p.name === u);
    if (!entry) throw new ConnectError(`${source}: no user ${JSON.stringify(u)} in the image's /etc/passwd`, Code.InvalidArgument);
    uid = entry.uid;
    gid = entry.gid;
  }
  if (g === undefined) return { uid, gid };
  if (g === "") throw new ConnectError(`${source}: ${JSON.stringify(userStr)} has an empty group`, Code.InvalidArgument);
  const numericGid = parseId(g);
  if (numericGid !== undefined) return { uid, gid: numericGid };
  if (/^[0-9]+$/.test(g)) throw new ConnectError(`${source}: gid ${g} is out of range`, Code.InvalidArgument);
  const group = groups.find((e) => e.name === g);
  if (!group) throw new ConnectError(`${source}: no group ${JSON.stringify(g)} in the image's /etc/group`, Code.InvalidArgument);
  return { uid, gid: group.gid };
}
