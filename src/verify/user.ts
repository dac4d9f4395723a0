/** The image config's `User` ("", "name", "uid", "name:group", "uid:gid") as numbers, read from the rootfs. */
import { readFile } from "node:fs/promises";
import { AotpackError } from "../errors.ts";
import { statInRoot } from "./rootfs-path.ts";

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** From /etc/passwd when the user is listed there; "/" otherwise (as runc does). */
  home: string;
}

const NUMERIC = /^\d+$/;

async function readDatabase(rootDir: string, file: "/etc/passwd" | "/etc/group"): Promise<string[][]> {
  const found = await statInRoot(rootDir, file);
  if (!found?.stats.isFile() || found.stats.size > 4 << 20) return [];
  return (await readFile(found.hostPath, "utf8"))
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

export async function resolveUser(rootDir: string, spec: string | undefined): Promise<ResolvedUser> {
  const [userPart = "", groupPart] = (spec ?? "").split(":", 2);
  const passwd = await readDatabase(rootDir, "/etc/passwd");
  let uid = 0;
  let gid = 0;
  let home = "/";
  if (userPart === "" || NUMERIC.test(userPart)) {
    uid = userPart === "" ? 0 : Number(userPart);
    const entry = passwd.find((f) => f[2] === String(uid));
    if (entry) {
      gid = Number(entry[3] ?? 0);
      home = entry[5] || "/";
    }
    // A bare uid not in /etc/passwd keeps gid 0, as docker and runc do.
  } else {
    const entry = passwd.find((f) => f[0] === userPart);
    if (!entry) throw new AotpackError(`the image's User "${spec}" is not in its /etc/passwd`, { hint: "use a numeric uid:gid, or add the user to the base image" });
    uid = Number(entry[2]);
    gid = Number(entry[3] ?? 0);
    home = entry[5] || "/";
  }
  if (groupPart !== undefined && groupPart !== "") {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const group = (await readDatabase(rootDir, "/etc/group")).find((f) => f[0] === groupPart);
      if (!group) throw new AotpackError(`the image's User "${spec}" names group "${groupPart}", which is not in its /etc/group`);
      gid = Number(group[2]);
    }
  }
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) throw new AotpackError(`the image's User "${spec}" is not a valid user`);
  return { uid, gid, home };
}
