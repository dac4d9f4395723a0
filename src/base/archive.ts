/**
 * One Debian suite on one mirror: the verified InRelease, verified Packages indexes
 * per architecture, and verified .deb files, all cached (indexes and debs by sha256,
 * so a cache hit is re-checked against the signed chain, never trusted by name).
 */
import { formatBytes } from "../bytes.ts";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { AotpackError, errorMessage } from "../errors.ts";
import { DigestVerifier, sha256 } from "../oci/digest.ts";
import { fileReadStream, writeFileAtomic } from "../oci/fs-util.ts";
import { currentSha256, keyedStore, noteCacheWrite, readCacheRecord, touchUsed } from "../cache.ts";
import { downloadToFile } from "./http.ts";
import { checkRelease, DEBIAN_KEYRING, InReleaseSignatureError, parseRelease, verifyInRelease, type ReleaseFile } from "./release.ts";
import { readPackagesXz, recordLines, serializeRecordLines, type PackageLookup, type PackageRecord } from "./packages-index.ts";
import { extractDeb, type TreeEntry } from "./deb-file.ts";

export interface ArchiveOptions {
  mirror: string;
  suite: string;
  /** Root of the base caches: `debian/` (indexes) and `debs/` (packages) go under it. */
  cacheRoot: string;
  keyring?: string;
  /**
   * A lock's release date: a cached InRelease that verifies and is dated at or after it is used as it
   * is, without asking the mirror. The lock pins every .deb by sha256, so a newer InRelease could only
   * move the index away from the pins; and a locked build then works offline.
   */
  cachedReleaseSince?: string;
  onProgress?: (msg: string) => void;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Stream a cache entry through a DigestVerifier; resolves true (and records the use) when it matches. */
async function fileMatches(path: string, sha256Hex: string, size: number | undefined): Promise<boolean> {
  try {
    await pipeline(fileReadStream(path), new DigestVerifier(`sha256:${sha256Hex}`, size, path), new Writable({ write: (_c, _e, cb) => cb() }));
    await touchUsed(path);
    return true;
  } catch {
    return false;
  }
}

/** Refuse a validly signed but older InRelease than the one we already trust (rollback/replay). */
function checkNotOlder(candidate: ReleaseFile, trusted: ReleaseFile, suite: string): void {
  const a = Date.parse(candidate.date ?? "");
  const b = Date.parse(trusted.date ?? "");
  if (!Number.isNaN(a) && !Number.isNaN(b) && a < b) {
    throw new AotpackError(`the mirror's InRelease of ${suite} (${candidate.date}) is older than the one already verified (${trusted.date}): refusing a rollback`, {
      hint: "the mirror is out of date or replaying old metadata; use another --debian-mirror",
    });
  }
}

export interface DebTree {
  record: PackageRecord;
  /** Directory holding the extracted bytes (`root/PATH`). */
  root: string;
  entries: Map<string, TreeEntry>;
}

export class DebianArchive {
  readonly mirror: string;
  readonly suite: string;
  #release: Promise<{ release: ReleaseFile; inRelease: string }> | undefined;
  #indexes = new Map<string, Promise<PackageLookup>>();
  #trees = new Map<string, Promise<DebTree>>();

  constructor(readonly options: ArchiveOptions) {
    this.mirror = options.mirror.replace(/\/+$/, "");
    this.suite = options.suite;
    this.#report = options.onProgress;
  }

  #report: ((msg: string) => void) | undefined;

  /** Where progress goes from now on: a build's platforms share one archive and resolve one at a time. */
  reportTo(onProgress: ((msg: string) => void) | undefined): void {
    this.#report = onProgress;
  }

  #progress(msg: string): void {
    this.#report?.(msg);
  }

  #indexDir(): string {
    // Per mirror + suite, so two mirrors never overwrite each other's InRelease.
    const mirrorKey = sha256(this.mirror).slice("sha256:".length, "sha256:".length + 16);
    return join(this.options.cacheRoot, "debian", mirrorKey, this.suite);
  }

  /** The signed, verified release of the suite. */
  release(): Promise<{ release: ReleaseFile; inRelease: string }> {
    this.#release ??= this.#loadRelease();
    return this.#release;
  }

  async #loadRelease(): Promise<{ release: ReleaseFile; inRelease: string }> {
    const file = join(this.#indexDir(), "InRelease");
    // A unique name: the platforms of one build refresh the same InRelease in parallel.
    const fresh = `${file}.new-${process.pid}-${randomBytes(4).toString("hex")}`;
    const url = `${this.mirror}/dists/${this.suite}/InRelease`;
    const keyring = this.options.keyring ?? DEBIAN_KEYRING;
    const since = this.options.cachedReleaseSince ? Date.parse(this.options.cachedReleaseSince) : NaN;
    // The cached copy, verified again on every read; one that does not verify is a miss (dropped, said).
    let trusted: Promise<ReleaseFile | undefined> | undefined;
    const cachedRelease = (): Promise<ReleaseFile | undefined> => (trusted ??= this.#cachedRelease(file, keyring));
    if (Number.isFinite(since)) {
      // A bad or older copy is refreshed.
      const cached = await cachedRelease();
      const usable = (r: ReleaseFile | undefined): r is ReleaseFile => {
        if (!r || !(Date.parse(r.date ?? "") >= since)) return false;
        try {
          checkRelease(r, this.suite); // another suite or past its Valid-Until: ask the mirror instead
          return true;
        } catch {
          return false;
        }
      };
      if (usable(cached)) return { release: cached, inRelease: file };
    }
    this.#progress(`fetching ${url}`);
    try {
      await downloadToFile(url, fresh, { timeoutMs: 60_000 });
    } catch (err) {
      // Offline: the cached InRelease, verified again, is as good as when it was fetched.
      const cached = await cachedRelease();
      if (!cached) throw err;
      this.#progress(`cannot refresh InRelease (${errorMessage(err)}); using the cached copy`);
      checkRelease(cached, this.suite);
      return { release: cached, inRelease: file };
    }
    let release: ReleaseFile;
    try {
      release = parseRelease(await verifyInRelease(fresh, keyring));
      checkRelease(release, this.suite);
      const old = await cachedRelease();
      if (old) checkNotOlder(release, old, this.suite);
    } catch (err) {
      // A refused InRelease never replaces the last good one.
      await rm(fresh, { force: true });
      throw err;
    }
    await rename(fresh, file);
    return { release, inRelease: file };
  }

  /** The cached InRelease, verified; undefined when absent or when it does not verify (then dropped, with a warning naming it). */
  async #cachedRelease(file: string, keyring: string): Promise<ReleaseFile | undefined> {
    if (!(await exists(file))) return undefined;
    try {
      return parseRelease(await verifyInRelease(file, keyring));
    } catch (err) {
      // gpgv missing (or failing to run) is not the file's fault: keep it, and fail as before.
      if (!(err instanceof InReleaseSignatureError)) throw err;
      this.#progress(`cache: InRelease ${file} does not verify (${errorMessage(err)}); dropped it, fetching it again`);
      await rm(file, { force: true });
      return undefined;
    }
  }

  /** Packages of main for `arch`, checked against the signed InRelease. */
  packages(arch: string): Promise<PackageLookup> {
    let p = this.#indexes.get(arch);
    if (!p) {
      p = this.#loadPackages(arch);
      this.#indexes.set(arch, p);
    }
    return p;
  }

  /**
   * Let go of `arch`'s parsed index (~75 MB of objects per architecture) once its base is resolved.
   * Kept live, it made every later garbage collection of the build mark it: about 1 s of a cold build.
   */
  forgetPackages(arch: string): void {
    this.#indexes.delete(arch);
  }

  async #loadPackages(arch: string): Promise<PackageLookup> {
    const { release } = await this.release();
    const rel = `main/binary-${arch}/Packages.xz`;
    const want = release.sha256.get(rel);
    if (!want) {
      throw new AotpackError(`the ${this.suite} release on ${this.mirror} has no ${rel}`, {
        hint: `architectures in this release: ${release.architectures.join(", ") || "none listed"}`,
      });
    }
    const file = join(this.options.cacheRoot, "debian", "indexes", `${want.sha256}.xz`);
    if (!(await fileMatches(file, want.sha256, want.size))) {
      // by-hash URLs never change under us while a mirror syncs; fall back to the plain path.
      const byHash = `${this.mirror}/dists/${this.suite}/main/binary-${arch}/by-hash/SHA256/${want.sha256}`;
      const plain = `${this.mirror}/dists/${this.suite}/${rel}`;
      const verifier = () => new DigestVerifier(`sha256:${want.sha256}`, want.size, `Packages index ${rel} of ${this.suite}`);
      const live = { onProgress: (m: string) => this.#progress(m), label: `${this.suite} ${rel}` };
      this.#progress(`fetching ${plain} (${formatBytes(want.size)})`);
      if (release.acquireByHash) {
        try {
          await downloadToFile(byHash, file, { verifier: verifier(), ...live });
        } catch (err) {
          if (err instanceof AotpackError && /digest mismatch|bytes|size/.test(err.message)) throw err;
          await downloadToFile(plain, file, { verifier: verifier(), ...live });
        }
      } else await downloadToFile(plain, file, { verifier: verifier(), ...live });
      noteCacheWrite();
    }
    // Decompressing and parsing ~100 MB takes seconds; the parsed form, keyed by the verified index's sha256,
    // loads at once. v3: one record per line, read by name (recordLines), in a keyed store: re-hashed on read,
    // so a damaged entry is rebuilt from the verified index (the records name the .debs' sha256).
    const store = keyedStore(join(this.options.cacheRoot, "debian", "parsed"), "parsed Packages index", (m) => this.#progress(m));
    const key = sha256(`packages-v3\0${want.sha256}`).slice("sha256:".length);
    const cached = await store.get(key).catch(() => undefined);
    if (cached) {
      try {
        return recordLines(Buffer.from(cached.buffer, cached.byteOffset, cached.byteLength));
      } catch (err) {
        await store.drop?.(key, errorMessage(err));
      }
    }
    const index = await readPackagesXz(file);
    await store.put(key, Buffer.from(serializeRecordLines(index)));
    return index;
  }

  /** Download (or reuse from cache) a .deb, verified against its Packages sha256. */
  async debFile(record: PackageRecord): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(record.sha256)) throw new AotpackError(`Packages entry of ${record.name} has no valid SHA256`);
    const file = join(this.options.cacheRoot, "debs", `${record.sha256}.deb`);
    if (await fileMatches(file, record.sha256, record.size)) return file;
    if (record.filename.split("/").includes("..")) throw new AotpackError(`Packages entry of ${record.name} has an unsafe Filename ${record.filename}`);
    const url = `${this.mirror}/${record.filename}`;
    this.#progress(`fetching ${record.name} ${record.version} (${record.architecture}, ${formatBytes(record.size)})`);
    await downloadToFile(url, file, {
      verifier: new DigestVerifier(`sha256:${record.sha256}`, record.size, `${record.name}_${record.version}_${record.architecture}.deb`),
      onProgress: (m) => this.#progress(m),
      label: `${record.name}_${record.version}_${record.architecture}.deb`,
    });
    noteCacheWrite();
    return file;
  }

  /** The package's files, extracted once per sha256 (verified .deb → manifest + kept bytes). */
  tree(record: PackageRecord): Promise<DebTree> {
    let p = this.#trees.get(record.sha256);
    if (!p) {
      p = this.#loadTree(record);
      this.#trees.set(record.sha256, p);
      p.catch(() => this.#trees.delete(record.sha256));
    }
    return p;
  }

  async #loadTree(record: PackageRecord): Promise<DebTree> {
    const dir = join(this.options.cacheRoot, "debs", "tree", record.sha256);
    let list: TreeEntry[] | undefined;
    if (await exists(join(dir, "manifest.json"))) {
      list = await this.#verifiedTree(dir, record);
      if (!list) await rm(dir, { recursive: true, force: true });
    }
    if (!list) {
      const deb = await this.debFile(record);
      await mkdir(join(this.options.cacheRoot, "debs", "tree"), { recursive: true });
      list = await extractDeb(deb, dir);
    }
    return { record, root: join(dir, "root"), entries: new Map(list.map((e) => [e.path, e])) };
  }

  /**
   * The tree's manifest when every extracted file still hashes to what the .deb held, else
   * undefined (with a warning): a patched libc.so.6 in the cache must not bypass the
   * InRelease → Packages → .deb sha256 chain. Trees from before per-file hashes count as bad.
   */
  async #verifiedTree(dir: string, record: PackageRecord): Promise<TreeEntry[] | undefined> {
    const label = `${record.name}_${record.version}_${record.architecture}`;
    const list = await readCacheRecord(join(dir, "manifest.json"), `extracted tree manifest of ${label}`, (v): v is TreeEntry[] => Array.isArray(v), (m) => this.#progress(m));
    if (!list) return undefined;
    const files = list.filter((e) => e.type === "file" && e.extracted);
    const results = await Promise.all(
      files.map(async (e) => (e.sha256 !== undefined && (await currentSha256(join(dir, "root", e.path))) === e.sha256 ? undefined : e.path)),
    );
    const bad = results.find((p) => p !== undefined);
    if (bad === undefined) {
      await touchUsed(dir);
      return list;
    }
    this.#progress(`cache: extracted tree of ${label} is corrupt (${bad} changed since extraction); extracting it again`);
    return undefined;
  }
}
