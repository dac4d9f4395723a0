/**
 * aotpack.lock: the Debian packages a deb: base was built from, pinned by version and
 * sha256 per architecture, so a rebuild uses exactly the same bytes or fails loudly.
 */
import { readFile } from "node:fs/promises";
import { AotpackError, errorMessage } from "../errors.ts";
import { writeFileAtomic } from "../oci/fs-util.ts";
import type { PackageRecord } from "./packages-index.ts";

export const LOCKFILE_VERSION = 1;

export interface LockedPackage {
  name: string;
  version: string;
  filename: string;
  sha256: string;
  size: number;
}

export interface Lockfile {
  lockfileVersion: 1;
  debian: {
    suite: string;
    /** Date of the signed InRelease the lock was resolved from. */
    release: string;
    architectures: Record<string, LockedPackage[]>;
  };
}

export async function readLockfile(path: string): Promise<Lockfile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AotpackError(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new AotpackError(`${path} is not valid JSON: ${errorMessage(err)}`, { hint: "delete it or run with --update-lock" });
  }
  const lock = parsed as Partial<Lockfile>;
  if (lock.lockfileVersion !== LOCKFILE_VERSION || typeof lock.debian?.suite !== "string" || typeof lock.debian.architectures !== "object") {
    throw new AotpackError(`${path}: unsupported lockfile (expected lockfileVersion ${LOCKFILE_VERSION} with a debian section)`, {
      hint: "run with --update-lock to rewrite it",
    });
  }
  return lock as Lockfile;
}

export function lockedFrom(record: PackageRecord): LockedPackage {
  return { name: record.name, version: record.version, filename: record.filename, sha256: record.sha256, size: record.size };
}

/** Stable JSON: sorted architectures and packages, fixed key order, trailing newline. */
export function serializeLockfile(lock: Lockfile): string {
  const archs = Object.keys(lock.debian.architectures).sort();
  const ordered: Lockfile = {
    lockfileVersion: LOCKFILE_VERSION,
    debian: {
      suite: lock.debian.suite,
      release: lock.debian.release,
      architectures: Object.fromEntries(
        archs.map((a) => [
          a,
          [...(lock.debian.architectures[a] ?? [])]
            .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
            .map((p) => ({ name: p.name, version: p.version, filename: p.filename, sha256: p.sha256, size: p.size })),
        ]),
      ),
    },
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

// Two platforms resolve in parallel and both update the same lock: serialise the read-merge-write.
const queues = new Map<string, Promise<unknown>>();

/** Set the packages of one architecture (keeping the other architectures of the same suite) and write the lock atomically. */
export function updateLockfile(path: string, suite: string, release: string, arch: string, packages: PackageRecord[]): Promise<void> {
  const run = async () => {
    const existing = await readLockfile(path);
    // Another suite's pins are meaningless for this one: start over.
    const lock: Lockfile =
      existing && existing.debian.suite === suite ? existing : { lockfileVersion: LOCKFILE_VERSION, debian: { suite, release, architectures: {} } };
    lock.debian.release = release;
    lock.debian.architectures[arch] = packages.map(lockedFrom);
    await writeFileAtomic(path, serializeLockfile(lock));
  };
  const prev = queues.get(path) ?? Promise.resolve();
  const next = prev.then(run, run);
  queues.set(path, next.catch(() => undefined));
  return next;
}

/** With a lock, the index record must be exactly the pinned one. */
export function checkPinned(lockPath: string, arch: string, pinned: LockedPackage | undefined, name: string, record: PackageRecord | undefined): void {
  const hint = "run with --update-lock to accept the mirror's current packages";
  if (!pinned) {
    throw new AotpackError(`aotpack.lock has no ${name} for ${arch}, but the base now needs it (${lockPath})`, { hint });
  }
  if (!record) {
    throw new AotpackError(`aotpack.lock pins ${name} ${pinned.version} for ${arch} but the mirror has no ${name}`, { hint });
  }
  if (record.version !== pinned.version || record.sha256 !== pinned.sha256 || record.filename !== pinned.filename) {
    const what = record.version !== pinned.version ? record.version : `${record.version} with sha256 ${record.sha256.slice(0, 12)}… (lock: ${pinned.sha256.slice(0, 12)}…)`;
    throw new AotpackError(`aotpack.lock pins ${name} ${pinned.version} for ${arch} but the mirror has ${what}`, { hint });
  }
}
