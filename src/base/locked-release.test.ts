/**
 * Issue 20 (cold builds): a build's platforms share one Debian archive, so InRelease is fetched once
 * per build, not once per platform; and with a lock, a verified cached InRelease at least as new as
 * the lock's release is used without asking the mirror, so a locked base is made again offline.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cacheDir } from "../cache.ts";
import { readElf } from "../elf/read-elf.ts";
import { parsePlatform } from "../oci/platform.ts";
import type { DebianArchive } from "./archive.ts";
import { resolveBase } from "./index.ts";
import { REAL_MIRROR, REPO_ROOT, bunBinary, debianMirrorReachable } from "./testing/fixtures.ts";
import { tempCache, unavailable } from "../../test/support/index.ts";

test("one InRelease fetch for a build's two platforms; with a lock, the base is made again from the cache without one; a broken base record is a miss", { timeout: 600_000 }, async (t) => {
  if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
  await tempCache(t);
  const work = await mkdtemp(join(tmpdir(), "aotpack-locked-release-"));
  t.after(() => rm(work, { recursive: true, force: true }));
  const lockfile = join(work, "aotpack.lock");
  await copyFile(join(REPO_ROOT, "test", "fixtures", "hello-server", "aotpack.lock"), lockfile);
  const said: string[] = [];
  const resolve = async (arch: "amd64" | "arm64", debianArchives: Map<string, DebianArchive>) => {
    const elf = await readElf(await bunBinary(arch));
    const base = await resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform(`linux/${arch}`), { elf }, {
      mirror: REAL_MIRROR,
      lockfile,
      sourceDateEpoch: 0,
      debianArchives,
      onProgress: (m) => said.push(`${arch}: ${m}`),
    });
    const [layer] = await base.image.layers();
    return layer!.digest();
  };
  const inReleaseFetches = (): string[] => said.filter((m) => /fetching .*InRelease/.test(m));

  const build = new Map<string, DebianArchive>();
  const amd64 = await resolve("amd64", build);
  await resolve("arm64", build);
  assert.equal(inReleaseFetches().length, 1, `one fetch for both platforms:\n${inReleaseFetches().join("\n")}`);

  // Issue 33: a base record that is not JSON is a miss: dropped with a warning naming it, the base made
  // again (the same layer), and recorded again.
  const records = (await readdir(cacheDir("bases"))).filter((n) => n.endsWith(".json")).map((n) => join(cacheDir("bases"), n));
  assert.equal(records.length, 2, "one base record per platform");
  for (const r of records) await writeFile(r, "{garbage");
  said.length = 0;
  assert.equal(await resolve("amd64", new Map()), amd64);
  assert.ok(records.some((r) => said.some((m) => m.includes(r) && /dropped/.test(m))), `a warning names the record:\n${said.join("\n")}`);
  said.length = 0;
  assert.equal(await resolve("amd64", new Map()), amd64);
  assert.ok(said.some((m) => /reusing the layer/.test(m)), `recorded again, then reused:\n${said.join("\n")}`);

  // Another build of the same lock, with the base layers gone from the cache: made again from the
  // cached InRelease, index and .debs, and the same layer.
  await rm(cacheDir("bases"), { recursive: true, force: true });
  said.length = 0;
  assert.equal(await resolve("amd64", new Map()), amd64);
  assert.deepEqual(inReleaseFetches(), [], "the locked base asked no mirror for InRelease");
  assert.ok(!said.some((m) => /reusing the layer/.test(m)), "the base was made again, not reused");

  // The parsed index is a keyed cache entry: damaged, it is dropped with a warning and parsed again from
  // the verified Packages.xz, and the base is the same.
  const parsedDir = join(cacheDir("debian"), "parsed");
  for (const kk of await readdir(parsedDir)) {
    for (const name of await readdir(join(parsedDir, kk))) {
      const file = join(parsedDir, kk, name);
      const bytes = await readFile(file);
      bytes[bytes.length - 10]! ^= 0x01;
      await writeFile(file, bytes);
    }
  }
  await rm(cacheDir("bases"), { recursive: true, force: true });
  said.length = 0;
  assert.equal(await resolve("amd64", new Map()), amd64);
  assert.match(said.join("\n"), /cache: parsed Packages index [0-9a-f]{12}… is corrupt .*dropped it, rebuilding/);
});
