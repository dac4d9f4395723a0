/**
 * aotpack.lock: the Debian packages a deb: base was built from, pinned by version and
 * sha256 per architecture, and (v2) the runtime executables taken from npm, pinned by their
 * tarball's integrity and the executable's sha256, so a rebuild uses exactly the same bytes
 * or fails loudly. A v1 lock (Debian only) is read as it is and written back as v2.
 */
import { readFile } from "node:fs/promises";
import { AotpackError, errorMessage } from "../errors.ts";
import { writeFileAtomic } from "../oci/fs-util.ts";
import type { PackageRecord } from "./packages-index.ts";

export const LOCKFILE_VERSION = 2;

export interface LockedPackage {
  name: string;
  version: string;
  filename: string;
  sha256: string;
  size: number;
}

/** A runtime executable from npm (Bun's, Node's), as first fetched and verified. */
export interface RuntimePin {
  /** npm's sha512 integrity of the package tarball. */
  integrity?: string;
  /** sha256 hex of the executable taken out of it. */
  sha256: string;
}

export interface Lockfile {
  lockfileVersion: 1 | 2;
  /** Absent in a lock of a build on another base (only runtimes pinned). */
  debian?: {
    suite: string;
    /** Date of the signed InRelease the lock was resolved from. */
    release: string;
    architectures: Record<string, LockedPackage[]>;
  };
  /** By `<package>@<version>` (the package names the platform, e.g. @oven/bun-linux-aarch64@1.4.5). */
  runtimes?: Record<string, RuntimePin>;
}

function isRuntimes(value: unknown): value is Record<string, RuntimePin> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((p: Partial<RuntimePin> | null) => typeof p?.sha256 === "string" && /^[0-9a-f]{64}$/.test(p.sha256) && (p.integrity === undefined || typeof p.integrity === "string"));
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
  const lock = parsed as Partial<Lockfile> | null;
  const debianOk = lock?.debian === undefined ? lock?.lockfileVersion === 2 : typeof lock.debian?.suite === "string" && typeof lock.debian.architectures === "object" && lock.debian.architectures !== null;
  const runtimesOk = lock?.runtimes === undefined || (lock.lockfileVersion === 2 && isRuntimes(lock.runtimes));
  if ((lock?.lockfileVersion !== 1 && lock?.lockfileVersion !== LOCKFILE_VERSION) || !debianOk || !runtimesOk) {
    throw new AotpackError(`${path}: unsupported lockfile (expected lockfileVersion 1 with a debian section, or ${LOCKFILE_VERSION} with debian and/or runtimes)`, {
      hint: "run with --update-lock to rewrite it",
    });
  }
  return lock as Lockfile;
}

export function lockedFrom(record: PackageRecord): LockedPackage {
  return { name: record.name, version: record.version, filename: record.filename, sha256: record.sha256, size: record.size };
}

/** Stable JSON: sorted architectures, packages and runtimes, fixed key order, trailing newline. Always the current version. */
export function serializeLockfile(lock: Lockfile): string {
  const ordered: Lockfile = { lockfileVersion: LOCKFILE_VERSION };
  if (lock.debian) {
    const archs = Object.keys(lock.debian.architectures).sort();
    ordered.debian = {
      suite: lock.debian.suite,
      release: lock.debian.release,
      architectures: Object.fromEntries(
        archs.map((a) => [
          a,
          [...(lock.debian!.architectures[a] ?? [])]
            .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
            .map((p) => ({ name: p.name, version: p.version, filename: p.filename, sha256: p.sha256, size: p.size })),
        ]),
      ),
    };
  }
  if (lock.runtimes && Object.keys(lock.runtimes).length) {
    ordered.runtimes = Object.fromEntries(
      Object.keys(lock.runtimes)
        .sort()
        .map((k) => {
          const p = lock.runtimes![k]!;
          return [k, { ...(p.integrity ? { integrity: p.integrity } : {}), sha256: p.sha256 }];
        }),
    );
  }
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

// Two platforms resolve in parallel and both update the same lock: serialise the read-merge-write.
const queues = new Map<string, Promise<unknown>>();

/** Read the lock (or start one), change it, write it atomically: one change at a time per path. */
function changeLockfile(path: string, change: (lock: Lockfile) => void): Promise<void> {
  const run = async () => {
    const lock: Lockfile = (await readLockfile(path)) ?? { lockfileVersion: LOCKFILE_VERSION };
    change(lock);
    await writeFileAtomic(path, serializeLockfile(lock));
  };
  const prev = queues.get(path) ?? Promise.resolve();
  const next = prev.then(run, run);
  queues.set(path, next.catch(() => undefined));
  return next;
}

/** Set the packages of one architecture (keeping the other architectures of the same suite, and the runtimes) and write the lock atomically. */
export function updateLockfile(path: string, suite: string, release: string, arch: string, packages: PackageRecord[]): Promise<void> {
  return changeLockfile(path, (lock) => {
    // Another suite's pins are meaningless for this one: start over.
    if (lock.debian?.suite !== suite) lock.debian = { suite, release, architectures: {} };
    lock.debian.release = release;
    lock.debian.architectures[arch] = packages.map(lockedFrom);
  });
}

/** Pin a runtime (`<package>@<version>`), keeping everything else in the lock. */
export function pinRuntime(path: string, key: string, pin: RuntimePin): Promise<void> {
  return changeLockfile(path, (lock) => {
    lock.runtimes = { ...(lock.runtimes ?? {}), [key]: pin };
  });
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
