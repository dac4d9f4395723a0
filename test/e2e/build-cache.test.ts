/**
 * The build cache as a user meets it: an unchanged project reuses its compile and layers; a one-line
 * change in layered mode changes only the small app layer, so a push uploads only that.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";
import { tempDir } from "../support/tools.ts";
import { cacheRoot } from "../../src/cache.ts";

interface BuildJson {
  digest: string;
  platforms: { platform: string; compiledFromCache: boolean; layers: { name: string; origin: string; digest: string; compressedBytes: number }[] }[];
}

test("unchanged inputs reuse the cache; a one-line change re-makes only the app layer (layered)", { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-cache-");
  const project = join(dir, "hello");
  await cp(join(REPO_ROOT, "test/fixtures/hello-server"), project, { recursive: true });
  const build = async (): Promise<BuildJson> => {
    const r = await runCli(["build", project, "--platform", "linux/amd64,linux/arm64", "--layout", "layered", "-o", `oci:${join(dir, "out")}:v1`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as BuildJson;
  };
  const first = await build();
  const again = await build();
  assert.equal(again.digest, first.digest);
  assert.ok(again.platforms.every((p) => p.compiledFromCache), "an unchanged project is not recompiled");

  const server = join(project, "server.js");
  // A comment would not do: the minified bundle (and so the image) would not change at all.
  const source = await readFile(server, "utf8");
  assert.ok(source.includes('res.end("hello")'));
  // Unique per run: the cache is keyed by content, so a text used before would (rightly) be a cache hit.
  await writeFile(server, source.replace('res.end("hello")', `res.end("hello, ${randomUUID()}")`));
  const changed = await build();
  assert.notEqual(changed.digest, first.digest);
  for (const [i, p] of changed.platforms.entries()) {
    assert.equal(p.compiledFromCache, false);
    const before = first.platforms[i]!.layers;
    const byName = (ls: BuildJson["platforms"][number]["layers"], name: string) => ls.find((l) => l.name === name)!;
    assert.equal(byName(p.layers, "runtime").digest, byName(before, "runtime").digest, `${p.platform}: the runtime layer is unchanged`);
    assert.notEqual(byName(p.layers, "app").digest, byName(before, "app").digest, `${p.platform}: the app layer changed`);
    // What a push would upload after the change: only the app layer (plus manifests and config).
    const newBytes = p.layers.filter((l) => !before.some((b) => b.digest === l.digest)).reduce((a, l) => a + l.compressedBytes, 0);
    const total = p.layers.reduce((a, l) => a + l.compressedBytes, 0);
    assert.ok(newBytes / total < 0.01, `${p.platform}: ${newBytes} of ${total} bytes changed`);
  }
});

test("a corrupt chunk in the chunk cache is reported and made again, never shipped (real Bun build)", { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-chunks-");
  // A cache of its own, with the downloads (runtimes, Debian indexes and packages) of the test's cache linked in.
  const cache = join(dir, "cache");
  await mkdir(cache);
  for (const sub of ["runtimes", "debian", "debs"]) {
    await mkdir(join(cacheRoot(), sub), { recursive: true });
    await symlink(join(cacheRoot(), sub), join(cache, sub));
  }
  const env = { AOTPACK_CACHE_DIR: cache };
  const build = async (): Promise<{ json: BuildJson; stderr: string }> => {
    const r = await runCli(["build", join(REPO_ROOT, "test/fixtures/hello-server"), "--platform", "linux/amd64", "-o", `oci:${join(dir, "out")}:v1`, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    return { json: JSON.parse(r.stdout) as BuildJson, stderr: r.stderr };
  };
  const first = await build();
  const chunks: string[] = [];
  for (const shard of await readdir(join(cache, "chunks"))) for (const name of await readdir(join(cache, "chunks", shard))) chunks.push(join(cache, "chunks", shard, name));
  assert.ok(chunks.length > 10, `the executable's chunks are cached (${chunks.length})`);
  for (const file of chunks.slice(0, 3)) {
    const bytes = await readFile(file);
    bytes[40]! ^= 0xff;
    await writeFile(file, bytes);
  }
  // The same artifact, layered again: the chunks are asked for.
  await rm(join(cache, "layers"), { recursive: true, force: true });
  await rm(join(cache, "blobs"), { recursive: true, force: true });
  const again = await build();
  assert.equal(again.json.digest, first.json.digest, "the image is the one built before the corruption");
  assert.equal((again.stderr.match(/cache: chunk [0-9a-f]{12}… is corrupt/g) ?? []).length, 3, again.stderr);
  const verify = await runCli(["cache", "verify", "--json"], { env });
  assert.equal(verify.code, 0, verify.stdout);
  assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true, "the bad chunks were written again");
});
