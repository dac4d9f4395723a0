/**
 * aotpack.lock's runtime pins (issue 33). The cache checks a runtime against the sha256 recorded
 * beside it, which catches corruption but not a swap of the runtime together with its records. The
 * lock (committed with the project) pins each runtime package taken from npm: its tarball's integrity
 * and the executable's sha256. A runtime that is not the pinned one is fetched again (build.ts); the
 * SBOM's runtime hashes are then the pinned values.
 */
import { AotpackError } from "../errors.ts";
import { pinRuntime, readLockfile } from "../base/lockfile.ts";
import type { Artifact } from "../compile/types.ts";

export interface RuntimePinOptions {
  lockfile: string;
  /** A missing pin is refused, not added (CI). */
  frozenLock: boolean;
  /** A pin that differs is replaced (--update-lock, with the runtime as fetched again from npm). */
  repin?: boolean;
  report: (message: string) => void;
}

/**
 * Check the artifact's npm runtime against the lock: undefined when it is the pinned one (or was just
 * pinned: first use, or a re-pin), else why not, in words. Without an npm runtime there is nothing to pin.
 */
export async function checkRuntimePin(artifact: Artifact, o: RuntimePinOptions): Promise<string | undefined> {
  const r = artifact.inputs?.runtime;
  if (!r) return undefined;
  const key = `${r.pkg}@${r.version}`;
  const pin = (await readLockfile(o.lockfile))?.runtimes?.[key];
  const current = { ...(r.integrity ? { integrity: r.integrity } : {}), sha256: r.sha256 };
  if (!pin) {
    if (o.frozenLock) {
      throw new AotpackError(`aotpack.lock has no pin for runtime ${key}, and --frozen-lock adds none (${o.lockfile})`, {
        hint: "run the build once without --frozen-lock and commit aotpack.lock",
      });
    }
    await pinRuntime(o.lockfile, key, current);
    o.report(`aotpack.lock: pinned runtime ${key} (sha256 ${r.sha256.slice(0, 12)}…; commit the lock)`);
    return undefined;
  }
  // A pin from a cache entry that had no integrity recorded pins the executable only.
  if (pin.sha256 === r.sha256 && (pin.integrity === undefined || pin.integrity === r.integrity)) {
    // The SBOM names what the lock verified, nothing the cache merely claims.
    if (pin.integrity === undefined) delete r.integrity;
    return undefined;
  }
  if (o.repin) {
    await pinRuntime(o.lockfile, key, current);
    o.report(`aotpack.lock: re-pinned runtime ${key} (sha256 ${r.sha256.slice(0, 12)}…, was ${pin.sha256.slice(0, 12)}…; commit the lock)`);
    return undefined;
  }
  const what = pin.sha256 !== r.sha256 ? `sha256 ${pin.sha256.slice(0, 12)}…, but the runtime has ${r.sha256.slice(0, 12)}…` : `integrity ${pin.integrity}, but the runtime's record says ${r.integrity ?? "none"}`;
  return `aotpack.lock pins runtime ${key} with ${what}`;
}
