/**
 * The Debian chain of trust against a tampering loopback mirror. The mirror serves the real,
 * Debian-signed InRelease, Packages.xz and .debs (from the cache a real fetch fills), and the
 * tests change single bytes or the lock to prove each check refuses.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { cacheRoot } from "../cache.ts";
import { AotpackError } from "../errors.ts";
import type { ElfInfo } from "../elf/types.ts";
import { parsePlatform } from "../oci/platform.ts";
import { DebianArchive } from "./archive.ts";
import { resolveBase, type ResolveBaseOptions } from "./index.ts";
import { readLockfile } from "./lockfile.ts";
import type { PackageRecord } from "./packages-index.ts";
import { REAL_MIRROR, debianMirrorReachable, startFakeMirror, type FakeMirror } from "./testing/fixtures.ts";
import { unavailable } from "../../test/support/index.ts";

// What a glibc binary such as Bun asks for; a real ELF is not needed to exercise the chain of trust.
const GLIBC_ELF: ElfInfo = { class: 64, machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6", "libm.so.6"], static: false };
const AMD64 = parsePlatform("linux/amd64");
const PACKAGES = "dists/bookworm/main/binary-amd64/Packages.xz";

interface RealFiles {
  inRelease: string;
  packagesXz: string;
  packagesSha: string;
  debs: Map<string, string>; // pool path → cached .deb
  libc6: PackageRecord;
}

let real: RealFiles | undefined;
let skipReason: string | undefined;

before(async () => {
  if (!(await debianMirrorReachable())) {
    skipReason = "deb.debian.org is not reachable over http (the fake mirror replays its signed files)";
    return;
  }
  const archive = new DebianArchive({ mirror: REAL_MIRROR, suite: "bookworm", cacheRoot: cacheRoot() });
  const { release, inRelease } = await archive.release();
  const index = await archive.packages("amd64");
  const debs = new Map<string, string>();
  for (const name of ["libc6", "ca-certificates", "base-files"]) {
    const record = index.get(name)!;
    debs.set(record.filename, await archive.debFile(record));
  }
  const sha = release.sha256.get("main/binary-amd64/Packages.xz")!.sha256;
  real = { inRelease, packagesXz: join(cacheRoot(), "debian", "indexes", `${sha}.xz`), packagesSha: sha, debs, libc6: index.get("libc6")! };
});

function serveReal(path: string, suite = "bookworm"): string | undefined {
  if (!real) return undefined;
  if (path === `dists/${suite}/InRelease`) return real.inRelease;
  if (path === `dists/${suite}/main/binary-amd64/Packages.xz` || path.endsWith(`/by-hash/SHA256/${real.packagesSha}`)) return real.packagesXz;
  return real.debs.get(path);
}

function flipByte(body: Buffer, at = Math.floor(body.length / 2)): Buffer {
  const copy = Buffer.from(body);
  copy[at] = copy[at]! ^ 0x01;
  return copy;
}

describe("deb: base chain of trust (tampering loopback mirror)", () => {
  let work: string;
  const mirrors: FakeMirror[] = [];
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "aotpack-base-sec-"));
  });
  after(async () => {
    for (const m of mirrors) await m.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh cache per case, so every file really comes from the (tampering) mirror. */
  async function build(mirror: FakeMirror, extra: Partial<ResolveBaseOptions> = {}, suite = "bookworm") {
    const dir = await mkdtemp(join(work, "case-"));
    return resolveBase({ kind: "deb", suite }, AMD64, { elf: GLIBC_ELF }, { mirror: mirror.url, cacheDir: join(dir, "cache"), blobDir: join(dir, "blobs"), ...extra });
  }
  async function mirror(resolve: (p: string) => string | Buffer | undefined, tamper?: (p: string, b: Buffer) => Buffer): Promise<FakeMirror> {
    const m = await startFakeMirror(resolve, tamper);
    mirrors.push(m);
    return m;
  }
  function ready(t: TestContext): boolean {
    if (skipReason) unavailable(t, skipReason);
    return skipReason === undefined;
  }

  test("the untampered replay builds (control for the cases below)", async (t) => {
    if (!ready(t)) return;
    const m = await mirror((p) => serveReal(p));
    const base = await build(m);
    assert.deepEqual(base.summary.packages.map((p) => p.name), ["base-files", "ca-certificates", "libc6"]);
    assert.ok(m.requests.includes("dists/bookworm/InRelease"));
    assert.ok(m.requests.includes(real!.libc6.filename));
  });

  test("a tampered InRelease (one byte of the signed text) is refused", async (t) => {
    if (!ready(t)) return;
    const m = await mirror(
      (p) => serveReal(p),
      (p, b) => (p.endsWith("InRelease") ? Buffer.from(b.toString("utf8").replace("Codename: bookworm", "Codename: bookworn")) : b),
    );
    await assert.rejects(build(m), (err: unknown) => err instanceof AotpackError && /InRelease signature verification failed/.test(err.message));
    assert.ok(!m.requests.some((p) => p.includes("Packages")), "nothing is fetched on a bad signature");
  });

  test("an unsigned Release served as InRelease is refused", async (t) => {
    if (!ready(t)) return;
    const m = await mirror(
      (p) => serveReal(p),
      (p, b) => {
        if (!p.endsWith("InRelease")) return b;
        const text = b.toString("utf8");
        return Buffer.from(text.slice(text.indexOf("Origin:"), text.indexOf("-----BEGIN PGP SIGNATURE-----")));
      },
    );
    await assert.rejects(build(m), /InRelease signature verification failed/);
  });

  test("a validly signed InRelease of another suite is refused (replay)", async (t) => {
    if (!ready(t)) return;
    const m = await mirror((p) => serveReal(p, "trixie"));
    await assert.rejects(build(m, {}, "trixie"), /InRelease is for suite .*bookworm.*, not trixie/);
  });

  test("a Packages index whose sha256 does not match InRelease is refused", async (t) => {
    if (!ready(t)) return;
    const m = await mirror(
      (p) => serveReal(p),
      (p, b) => (p === PACKAGES || p.includes("by-hash") ? flipByte(b) : b),
    );
    const dir = await mkdtemp(join(work, "pkg-"));
    await assert.rejects(
      resolveBase({ kind: "deb", suite: "bookworm" }, AMD64, { elf: GLIBC_ELF }, { mirror: m.url, cacheDir: dir }),
      (err: unknown) => err instanceof AotpackError && /Packages index .* digest mismatch/.test(err.message),
    );
    assert.deepEqual(await readdir(join(dir, "debian", "indexes")), [], "the bad index is not kept");
    assert.ok(!m.requests.some((p) => p.startsWith("pool/")));
  });

  test("a .deb whose sha256 does not match Packages is refused", async (t) => {
    if (!ready(t)) return;
    const m = await mirror(
      (p) => serveReal(p),
      (p, b) => (p === real!.libc6.filename ? flipByte(b) : b),
    );
    const dir = await mkdtemp(join(work, "deb-"));
    await assert.rejects(
      resolveBase({ kind: "deb", suite: "bookworm" }, AMD64, { elf: GLIBC_ELF }, { mirror: m.url, cacheDir: dir }),
      (err: unknown) => err instanceof AotpackError && /libc6_.*\.deb: digest mismatch/.test(err.message),
    );
    assert.ok(!(await readdir(join(dir, "debs"))).some((f) => f.endsWith(".deb")), "the bad .deb is not kept");
  });

  test("with aotpack.lock present, changed mirror content fails loudly instead of drifting", async (t) => {
    if (!ready(t)) return;
    const m = await mirror((p) => serveReal(p));
    const lockfile = join(work, "aotpack.lock");
    const cacheDir = join(work, "lock-cache"); // shared by these builds: the lock, not the cache, is under test
    const build = (mirror: FakeMirror, extra: Partial<ResolveBaseOptions>) =>
      resolveBase({ kind: "deb", suite: "bookworm" }, AMD64, { elf: GLIBC_ELF }, { mirror: mirror.url, cacheDir, blobDir: join(work, "lock-blobs"), ...extra });
    await build(m, { lockfile });
    const written = await readFile(lockfile, "utf8");
    const lock = await readLockfile(lockfile);
    assert.equal(lock?.debian?.architectures.amd64?.find((p) => p.name === "libc6")?.sha256, real!.libc6.sha256);

    // Same mirror content: the lock is honoured and left byte-identical.
    await build(m, { lockfile });
    assert.equal(await readFile(lockfile, "utf8"), written);

    // The lock pins another libc6 than the mirror now has (as after a point release).
    const pinned = JSON.parse(written) as { debian: { architectures: { amd64: { name: string; version: string; sha256: string }[] } } };
    const libc = pinned.debian.architectures.amd64.find((p) => p.name === "libc6")!;
    libc.version = "2.36-9+deb12u1";
    libc.sha256 = "0".repeat(64);
    await writeFile(lockfile, JSON.stringify(pinned));
    await assert.rejects(build(m, { lockfile }), (err: unknown) => {
      assert.ok(err instanceof AotpackError);
      assert.match(err.message, new RegExp(`aotpack\\.lock pins libc6 2\\.36-9\\+deb12u1 for amd64 but the mirror has ${real!.libc6.version.replace(/[+.]/g, "\\$&")}`));
      assert.match(err.hint ?? "", /--update-lock/);
      return true;
    });

    // Same version, other bytes: still refused.
    libc.version = real!.libc6.version;
    await writeFile(lockfile, JSON.stringify(pinned));
    await assert.rejects(build(m, { lockfile }), /aotpack\.lock pins libc6 .* but the mirror has .* with sha256/);

    // A package the lock does not know.
    pinned.debian.architectures.amd64 = pinned.debian.architectures.amd64.filter((p) => p.name !== "ca-certificates");
    libc.sha256 = real!.libc6.sha256;
    await writeFile(lockfile, JSON.stringify(pinned));
    // --frozen-lock (CI) refuses it; otherwise the lock is extended, and the build says so.
    await assert.rejects(build(m, { lockfile, frozenLock: true }), /aotpack\.lock has no ca-certificates for amd64/);
    const said: string[] = [];
    await build(m, { lockfile, onProgress: (msg) => said.push(msg) });
    assert.ok(said.some((msg) => /aotpack\.lock: added ca-certificates .* for amd64/.test(msg)), said.join("\n"));
    assert.equal(await readFile(lockfile, "utf8"), written);

    // --update-lock re-pins from the mirror.
    await build(m, { lockfile, updateLock: true });
    assert.equal(await readFile(lockfile, "utf8"), written);
  });
});
