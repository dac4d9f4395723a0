/**
 * The one grammar of an image config's `User` as aotpack writes it: `uid:gid`, `uid`, `name` or
 * `name:group` (a name is looked up in the image's /etc/passwd and /etc/group at run time).
 * Ids are decimal integers 0..2147483647, Kubernetes' range for runAsUser/runAsGroup: a larger
 * one cannot be put into a pod spec, and 4294967295 is (uid_t)-1.
 */

export const MAX_ID = 2 ** 31 - 1;

/** A name as useradd takes it (NAME_REGEX, plus upper case and "."): not all digits, at most 32 characters. */
const NAME = /^[A-Za-z_][A-Za-z0-9._-]{0,30}\$?$/;
/** No sign, no leading zero: one spelling per id. */
const ID = /^(?:0|[1-9][0-9]{0,9})$/;

export type UserPart = { id: number } | { name: string };

export interface ImageUser {
  user: UserPart;
  /** Absent: the user's primary group from /etc/passwd, else 0 (as docker and runc do). */
  group?: UserPart;
}

function part(s: string): UserPart | undefined {
  if (ID.test(s)) {
    const id = Number(s);
    return id <= MAX_ID ? { id } : undefined;
  }
  return NAME.test(s) ? { name: s } : undefined;
}

/** The parsed user, or undefined when `spec` is not one of the four forms with ids in range. */
export function parseImageUser(spec: string): ImageUser | undefined {
  const [u, g, ...more] = spec.split(":");
  if (more.length > 0) return undefined;
  const user = part(u!);
  if (!user) return undefined;
  if (g === undefined) return { user };
  const group = part(g);
  return group ? { user, group } : undefined;
}

function isRootPart(p: UserPart): boolean {
  return "id" in p ? p.id === 0 : p.name === "root";
}

/** True for uid 0 or the name root, in the spellings a USER line or a config's User takes ("0", "00", "root"). */
export function isRootName(s: string): boolean {
  const t = s.trim();
  return t === "root" || /^0+$/.test(t);
}

/**
 * How a user is root, or may be, as the rest of a sentence ("runs as root (uid 0)"); undefined
 * for a user that is not. A bare uid runs with group 0 unless the image's /etc/passwd lists it.
 */
export function rootReason(user: ImageUser): string | undefined {
  const how = (p: UserPart, kind: "uid" | "gid"): string => ("id" in p ? `${kind} 0` : `the root ${kind === "uid" ? "user" : "group"}`);
  if (isRootPart(user.user)) return `runs as root (${how(user.user, "uid")})`;
  if (user.group && isRootPart(user.group)) return `runs with group root (${how(user.group, "gid")})`;
  if (!user.group && "id" in user.user) return "names no group, so it runs with group 0 (root) unless the base's /etc/passwd lists it";
  return undefined;
}
