/**
 * Issue 20: the base is a base image. Its files' times are its own (the lock's InRelease date),
 * not the app's SOURCE_DATE_EPOCH, so two projects (two commit times) on one lock share one base
 * layer: the second builds it from the cache, offline, and a registry stores it once.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { readElf } from "../elf/read-elf.ts";
import { parsePlatform } from "../oci/platform.ts";
import { resolveBase } from "./index.ts";
import { readLockfile } from "./lockfile.ts";
import { REAL_MIRROR, REPO_ROOT, bunBinary, debianMirrorReachable } from "./testing/fixtures.ts";
import { tempCache, unavailable } from "../../test/support/index.ts";

test("two SOURCE_DATE_EPOCHs on one lock give one base layer, the second made offline, with the lock's date as every file time", { timeout: 300_000 }, async (t) => {
  if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
  await tempCache(t);
  const work = await mkdtemp(join(tmpdir(), "aotpack-base-epoch-"));
  t.after(() => rm(work, { recursive: true, force: true }));
  const lockfile = join(work, "aotpack.lock");
  await copyFile(join(REPO_ROOT, "test", "fixtures", "hello-server", "aotpack.lock"), lockfile);
  const elf = await readElf(await bunBinary("amd64"));
  const resolveAt = async (sourceDateEpoch: number) => {
    const said: string[] = [];
    const base = await resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform("linux/amd64"), { elf }, {
      mirror: REAL_MIRROR,
      lockfile,
      sourceDateEpoch,
      onProgress: (m) => said.push(m),
    });
    const [layer] = await base.image.layers();
    return { layer: layer!, said, config: await base.image.configFile() };
  };
  const first = await resolveAt(0);
  const second = await resolveAt(1_700_000_000);
  assert.equal(await second.layer.digest(), await first.layer.digest(), "one base layer for both epochs");
  assert.deepEqual(second.said.filter((m) => /fetching|InRelease/.test(m) && !/reusing/.test(m)), [], "the second base touches no mirror");
  // The image config is still the app's: its created time is the epoch asked for.
  assert.equal(second.config.created, "2023-11-14T22:13:20Z");

  const release = Date.parse((await readLockfile(lockfile))!.debian!.release) / 1000;
  assert.ok(Number.isFinite(release) && release > 1.6e9, `the lock's release date parses (${release})`);
  const times = new Set<number>();
  const ex = extract();
  ex.on("entry", (h, stream, next) => {
    times.add(h.mtime!.getTime() / 1000);
    stream.on("end", next).resume();
  });
  const done = new Promise<void>((resolve, reject) => ex.on("finish", () => resolve()).on("error", reject));
  (await first.layer.compressed()).pipe(createGunzip()).pipe(ex);
  await done;
  assert.deepEqual([...times], [Math.floor(release)], "every file of the base has the lock's InRelease date");
});
