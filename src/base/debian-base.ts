/** deb:SUITE for one architecture: verified archive → sliced packages + skeleton → layer entries. */
import { AotpackError } from "../errors.ts";
import type { ElfInfo } from "../elf/types.ts";
import type { RuntimeLibrary } from "../compile/types.ts";
import type { LayerEntry } from "../oci/layer.ts";
import { DebianArchive } from "./archive.ts";
import { checkPinned, readLockfile, updateLockfile } from "./lockfile.ts";
import type { PackageRecord } from "./packages-index.ts";
import { skeletonEntries } from "./skeleton.ts";
import { readFile } from "node:fs/promises";
import { debianDistro, dpkgStatusEntries } from "./dpkg-status.ts";
import { SliceResolver } from "./slices.ts";

export interface DebianBaseOptions {
  suite: string;
  /** Debian architecture name (amd64, arm64, …). */
  arch: string;
  mirror: string;
  cacheRoot: string;
  elf?: ElfInfo;
  caCertificates: boolean;
  tzdata: boolean;
  extraPackages: string[];
  runtimeLibraries?: RuntimeLibrary[];
  /** Path of aotpack.lock; without it nothing is pinned or written. */
  lockfile?: string;
  /** Re-resolve from the mirror and rewrite this architecture's pins. */
  updateLock?: boolean;
  /** Refuse, rather than add, packages the lock lacks. */
  frozenLock?: boolean;
  keyring?: string;
  /** One archive per mirror and suite, shared by the platforms of one build: InRelease loads once. */
  archives?: Map<string, DebianArchive>;
  onProgress?: (msg: string) => void;
}

export interface DebianBase {
  entries: LayerEntry[];
  packages: PackageRecord[];
  releaseDate: string;
  /** purl distro qualifier from base-files' /etc/debian_version, e.g. debian-12. */
  distro: string;
}

export async function buildDebianBase(o: DebianBaseOptions): Promise<DebianBase> {
  // The Debian pins (a lock may pin only runtimes: a build on another base wrote it).
  const lock = o.lockfile ? (await readLockfile(o.lockfile))?.debian : undefined;
  if (lock && lock.suite !== o.suite && !o.updateLock) {
    throw new AotpackError(`aotpack.lock pins Debian suite ${lock.suite} but the base is deb:${o.suite}`, {
      hint: "run with --update-lock to re-pin for the new suite",
    });
  }
  const archiveKey = JSON.stringify([o.mirror, o.suite, o.cacheRoot, o.keyring ?? null]);
  const archive =
    o.archives?.get(archiveKey) ??
    new DebianArchive({
      mirror: o.mirror,
      suite: o.suite,
      cacheRoot: o.cacheRoot,
      ...(o.keyring ? { keyring: o.keyring } : {}),
      // With a lock (and no re-pin), the verified InRelease already cached serves: no mirror round trip.
      ...(lock && !o.updateLock && lock.release ? { cachedReleaseSince: lock.release } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  o.archives?.set(archiveKey, archive);
  archive.reportTo(o.onProgress);
  const pins = o.updateLock ? undefined : lock?.architectures[o.arch];
  const pinned = pins ? new Map(pins.map((p) => [p.name, p])) : undefined;

  const { release } = await archive.release();
  const index = await archive.packages(o.arch);
  const resolver = new SliceResolver(
    { arch: o.arch, caCertificates: o.caCertificates, tzdata: o.tzdata, extraPackages: o.extraPackages, runtimeLibraries: o.runtimeLibraries ?? [], ...(o.elf ? { elf: o.elf } : {}) },
    {
      lookup: (name) => {
        const record = index.get(name);
        // Only pinned names are checked here: the resolver also probes guesses it may not use.
        if (pinned?.has(name) && o.lockfile) checkPinned(o.lockfile, o.arch, pinned.get(name), name, record);
        return record;
      },
      tree: (record) => archive.tree(record),
    },
  );
  const sliced = await resolver.resolve();
  archive.forgetPackages(o.arch);
  // With a lock, its date (kept when pins are added): the base's file times and history name it, so
  // the base stays the same while the mirror's InRelease moves on (a point release); --update-lock re-dates.
  // (A lock of another suite was refused above, unless --update-lock.)
  const releaseDate = (o.updateLock ? undefined : lock?.release) ?? release.date ?? "";
  if (pinned && o.lockfile) {
    // Pinned packages were checked exactly above. New ones (another runtime needs libstdc++) are
    // added, as npm install adds to package-lock.json; --frozen-lock refuses them, as npm ci does.
    const added = sliced.packages.filter((r) => !pinned.has(r.name));
    if (o.frozenLock) for (const record of added) checkPinned(o.lockfile, o.arch, undefined, record.name, record);
    if (added.length) {
      const kept = (lock?.architectures[o.arch] ?? []).filter((p) => sliced.packages.some((r) => r.name === p.name)).length;
      await updateLockfile(o.lockfile, o.suite, lock?.release ?? releaseDate, o.arch, sliced.packages);
      o.onProgress?.(`aotpack.lock: added ${added.map((r) => `${r.name} ${r.version}`).join(", ")} for ${o.arch} (the base now needs them; ${kept} pins kept; commit the lock)`);
    }
  }
  const hasLib64 = sliced.entries.some((e) => e.path.startsWith("/usr/lib64/"));
  if (o.lockfile && !pinned) await updateLockfile(o.lockfile, o.suite, releaseDate, o.arch, sliced.packages);
  const versionFile = sliced.entries.find((e) => e.path === "/etc/debian_version")?.source;
  const distro = debianDistro(versionFile ? await readFile(versionFile, "utf8") : o.suite);
  return {
    entries: [...skeletonEntries({ hasLib64 }), ...sliced.entries, ...dpkgStatusEntries(sliced.packages)],
    packages: sliced.packages,
    releaseDate,
    distro,
  };
}
