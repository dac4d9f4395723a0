/** `aotpack cache ls|prune|verify` over a real cache layout, through the CLI. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { cacheFsError, cacheMaxBytes, cacheWriteCount, casGet, casPut, DEFAULT_CACHE_MAX_BYTES, keyedStore, noteCacheWrite } from "./cache.ts";
import { bySection, evictAfterBuild, listCache, pruneCache, verifyCache } from "./cache-admin.ts";
import { main } from "./cli/main.ts";
import { tempCache } from "../test/support/index.ts";

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d));
  stderr.on("data", (d: Buffer) => (err += d));
  const code = await main(args, { stdout, stderr });
  return { code, stdout: out, stderr: err };
}

test("cache ls says where the cache is; verify drops bad entries; prune by age and by size", async (t) => {
  const root = await tempCache(t, "aotpack-cache-cmd-");
  const good = await casPut("blobs", Buffer.alloc(3000, 1));
  const bad = await casPut("blobs", Buffer.alloc(2000, 2));
  const old = await casPut("blobs", Buffer.alloc(1000, 3));
  await writeFile(bad.path, Buffer.alloc(2000, 9)); // same size, other bytes
  const monthAgo = new Date(Date.now() - 30 * 86400e3);
  await utimes(old.path, monthAgo, monthAgo);
  await mkdir(join(root, "blobs", "sha256"), { recursive: true });
  await writeFile(join(root, "blobs", "sha256", ".layer.tmp-99999999-ab12"), Buffer.alloc(5000));

  const ls = await cli(["cache", "ls", "--json"]);
  assert.equal(ls.code, 0, ls.stderr);
  const listed = JSON.parse(ls.stdout) as { root: string; totalBytes: number; sections: Record<string, { entries: number }> };
  assert.equal(listed.root, root);
  assert.equal(listed.sections.blobs?.entries, 3);
  assert.match((await cli(["cache", "ls"])).stdout, new RegExp(`cache: ${root}`));

  const verify = await cli(["cache", "verify", "--json"]);
  assert.equal(verify.code, 1);
  const report = JSON.parse(verify.stdout) as { ok: boolean; problems: { path: string }[] };
  assert.deepEqual(report.problems.map((p) => p.path), [bad.path]);

  const byAge = JSON.parse((await cli(["cache", "prune", "--older-than", "7d", "--json"])).stdout) as { removed: number };
  assert.equal(byAge.removed, 1);
  const names = await readdir(join(root, "blobs", "sha256"));
  assert.deepEqual(names, [good.sha256], "the old blob and the dead writer's temp file are gone");
  const bySize = JSON.parse((await cli(["cache", "prune", "--max-size", "1kB", "--json"])).stdout) as { remainingBytes: number };
  assert.equal(bySize.remainingBytes, 0);
  assert.equal((await cli(["cache", "prune"])).code, 2);
  assert.equal((await cli(["cache", "prune", "--max-size", "lots"])).code, 2);
});

test("a full disk in the cache gets a hint about disk space and where the cache is", () => {
  const e = cacheFsError(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }), "writing", "/c/blobs/x");
  assert.match(e.message, /no space left on device writing \/c\/blobs\/x/);
  assert.match(e.hint ?? "", /disk/);
  assert.match(e.hint ?? "", /aotpack cache prune/);
  assert.doesNotMatch(e.hint ?? "", /network/);
});

async function ageTo(path: string, daysAgo: number): Promise<void> {
  const when = new Date(Date.now() - daysAgo * 86400e3);
  await utimes(path, when, when);
}

test("prune --max-size removes the least recently used entries first, in every section (chunks, .NET work dirs too), and keeps the ones in use", async (t) => {
  const root = await tempCache(t);
  const chunks = keyedStore(join(root, "chunks"), "chunk");
  const key = (n: number): string => createHash("sha256").update(String(n)).digest("hex");
  for (const n of [1, 2, 3]) await chunks.put(key(n), Buffer.alloc(1000, n));
  const blob = await casPut("blobs", Buffer.alloc(1000, 7));
  await mkdir(join(root, "dotnet-work", "abcd"), { recursive: true });
  await writeFile(join(root, "dotnet-work", "abcd", "obj.bin"), Buffer.alloc(1000, 8));
  const chunkPath = (n: number): string => join(root, "chunks", key(n).slice(0, 2), key(n));
  // Oldest first: chunk 1 (9 days), the .NET work dir (8), chunk 2 (7), the blob (6), chunk 3 (5).
  await ageTo(chunkPath(1), 9);
  await ageTo(join(root, "dotnet-work", "abcd"), 8);
  await ageTo(chunkPath(2), 7);
  await ageTo(blob.path, 6);
  await ageTo(chunkPath(3), 5);

  const sections = bySection(await listCache(root));
  assert.equal(sections.chunks?.entries, 3, "chunks are cache entries");
  assert.equal(sections["dotnet-work"]?.entries, 1, ".NET work dirs are cache entries");

  // A hit records the use: chunk 2 becomes the most recently used.
  assert.deepEqual(await chunks.get(key(2)), Buffer.alloc(1000, 2));
  const total = (await listCache(root)).reduce((n, e) => n + e.bytes, 0);
  // Three entries must go (the work dir, the blob, a chunk of 1000 + 32 bytes), but the oldest (chunk 1) is in use: it stays.
  const removed = await pruneCache({ maxBytes: total - (1000 + 1000 + 1032), keep: (e) => e.path === chunkPath(1) }, root);
  assert.deepEqual(
    removed.map((e) => e.path),
    [join(root, "dotnet-work", "abcd"), blob.path, chunkPath(3)],
    "least recently used first, skipping the kept entry; the chunk just read is kept",
  );
  assert.deepEqual(await chunks.get(key(1)), Buffer.alloc(1000, 1));
  assert.ok(await chunks.get(key(2)));
});

test("prune --older-than goes by last use: an entry read since is kept", async (t) => {
  const root = await tempCache(t);
  const a = await casPut("blobs", Buffer.alloc(500, 1));
  const b = await casPut("blobs", Buffer.alloc(500, 2));
  await ageTo(a.path, 10);
  await ageTo(b.path, 10);
  assert.ok(await casGet("blobs", b.sha256), "a verified read counts as a use");
  const removed = await pruneCache({ olderThanMs: 7 * 86400e3 }, root);
  assert.deepEqual(removed.map((e) => e.path), [a.path]);
});

test("a corrupt chunk is found by cache verify and by a read, which drops it with a warning", async (t) => {
  const root = await tempCache(t);
  const warnings: string[] = [];
  const chunks = keyedStore(join(root, "chunks"), "chunk", (m) => warnings.push(m));
  const k = createHash("sha256").update("k").digest("hex");
  const k2 = createHash("sha256").update("k2").digest("hex");
  await chunks.put(k, Buffer.alloc(4000, 1));
  await chunks.put(k2, Buffer.alloc(4000, 2));
  const file = join(root, "chunks", k.slice(0, 2), k);
  const bytes = await readFile(file);
  bytes[bytes.length - 1]! ^= 0xff;
  await writeFile(file, bytes);
  const report = await verifyCache(root);
  assert.deepEqual(report.problems.map((p) => p.path), [file]);
  assert.equal(report.checked, 2);

  await chunks.put(k, Buffer.alloc(4000, 1));
  const again = await readFile(file);
  again[40]! ^= 0xff;
  await writeFile(file, again);
  assert.equal(await chunks.get(k), undefined, "a corrupt chunk is a miss");
  assert.match(warnings.join("\n"), /cache: chunk [0-9a-f]{12}… is corrupt.*dropped/);
  await assert.rejects(readFile(file), { code: "ENOENT" });
});

test("cache verify also checks the parsed Packages indexes (debian/parsed) and drops a damaged one", async (t) => {
  const root = await tempCache(t);
  const parsed = keyedStore(join(root, "debian", "parsed"), "parsed Packages index");
  const k = createHash("sha256").update("index").digest("hex");
  await parsed.put(k, Buffer.from('{"name":"libc6","version":"1"}\n'));
  assert.deepEqual((await verifyCache(root)).problems, []);
  const file = join(root, "debian", "parsed", k.slice(0, 2), k);
  const bytes = await readFile(file);
  bytes[bytes.length - 3]! ^= 0x01;
  await writeFile(file, bytes);
  assert.deepEqual((await verifyCache(root)).problems.map((p) => p.path), [file]);
  await assert.rejects(readFile(file), { code: "ENOENT" });
});

test("concurrent writers of one key leave one whole entry and no temp files", async (t) => {
  const root = await tempCache(t);
  const chunks = keyedStore(join(root, "chunks"), "chunk");
  const k = createHash("sha256").update("same").digest("hex");
  const payload = Buffer.alloc(3 << 20, 5);
  await Promise.all(Array.from({ length: 8 }, () => chunks.put(k, payload)));
  await Promise.all(Array.from({ length: 8 }, () => casPut("blobs", payload)));
  assert.ok(payload.equals((await chunks.get(k)) ?? Buffer.alloc(0)));
  const blobs = await readdir(join(root, "blobs", "sha256"));
  assert.deepEqual(blobs, [createHash("sha256").update(payload).digest("hex")]);
  assert.deepEqual(await readdir(join(root, "chunks", k.slice(0, 2))), [k]);
  assert.equal((await verifyCache(root)).problems.length, 0);
});

test("AOTPACK_CACHE_MAX_SIZE: a size, 0/off for no automatic eviction, else a usage error", () => {
  // Issue 27: 10 GiB was reached in about an hour of edits; the default is a laptop's share.
  assert.equal(cacheMaxBytes({}), 3 * 1024 ** 3);
  assert.equal(cacheMaxBytes({ AOTPACK_CACHE_MAX_SIZE: "5g" }), 5e9);
  assert.equal(cacheMaxBytes({ AOTPACK_CACHE_MAX_SIZE: "800MiB" }), 800 * 1024 ** 2);
  assert.equal(cacheMaxBytes({ AOTPACK_CACHE_MAX_SIZE: "off" }), undefined);
  assert.equal(cacheMaxBytes({ AOTPACK_CACHE_MAX_SIZE: "0" }), undefined);
  assert.throws(() => cacheMaxBytes({ AOTPACK_CACHE_MAX_SIZE: "lots" }), (e: Error) => e.name === "UsageError" && /AOTPACK_CACHE_MAX_SIZE/.test(e.message));
});

test("issue 33: cache verify reports every broken record by its file (exit 1) and never crashes on one", async (t) => {
  const root = await tempCache(t);
  const key = (s: string): string => createHash("sha256").update(s).digest("hex");
  const blob = await casPut("blobs", Buffer.alloc(100, 1));
  const goodLayer = join(root, "layers", `${key("good")}.json`);
  await mkdir(join(root, "layers"), { recursive: true });
  await writeFile(goodLayer, JSON.stringify({ descriptor: { digest: `sha256:${blob.sha256}`, size: 100 } }));
  const broken: string[] = [];
  const garbage = async (path: string, text = "{garbage"): Promise<void> => {
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, text);
    broken.push(path);
  };
  await garbage(join(root, "layers", `${key("layer")}.json`));
  await garbage(join(root, "bases", `${key("base")}.json`));
  await garbage(join(root, "layers", `${key("null")}.json`), "null");
  await garbage(join(root, "artifacts", key("artifact"), "artifact.json"));
  await garbage(join(root, "debs", "tree", key("deb"), "manifest.json"));
  await garbage(join(root, "debian", "0123456789abcdef", "bookworm", "InRelease"), "not a signed release\n");

  const verify = await cli(["cache", "verify"]);
  assert.equal(verify.code, 1, verify.stderr);
  for (const path of broken) assert.ok(verify.stdout.includes(path), `${path} is reported:\n${verify.stdout}${verify.stderr}`);
  assert.match(verify.stdout, /checked \d+ entries, 6 bad/);
  for (const path of broken) await assert.rejects(readFile(path), { code: "ENOENT" }, `${path} is removed`);
  await readFile(goodLayer);
  const again = await cli(["cache", "verify", "--json"]);
  assert.equal(again.code, 0, again.stdout);
  assert.deepEqual((JSON.parse(again.stdout) as { problems: unknown[] }).problems, []);
});

test("a build over the default cap says what it evicted, that 3 GiB is the default, and how to change it", async (t) => {
  const root = await tempCache(t);
  // 3.5 GiB in one old entry, as a sparse file: the listing counts its size, the disk holds nothing.
  const hex = "ab".repeat(32);
  await mkdir(join(root, "blobs", "sha256"), { recursive: true });
  const big = join(root, "blobs", "sha256", hex);
  const fh = await open(big, "w");
  await fh.truncate(DEFAULT_CACHE_MAX_BYTES + 512 * 1024 ** 2);
  await fh.close();
  await utimes(big, new Date(Date.now() - 86400e3), new Date(Date.now() - 86400e3));
  const writesAtStart = cacheWriteCount();
  noteCacheWrite(); // the build wrote something
  const messages: string[] = [];
  const removed = await evictAfterBuild({ startedMs: Date.now(), writesAtStart, report: (m) => messages.push(m), root, env: {} });
  assert.deepEqual(removed.map((e) => e.path), [big]);
  await assert.rejects(stat(big), { code: "ENOENT" });
  assert.equal(messages.length, 1, messages.join("\n"));
  assert.match(messages[0]!, /^cache: evicted 1 least recently used entry \(3\.50 GiB\) to stay under 3\.00 GiB, the default cap; set AOTPACK_CACHE_MAX_SIZE \(e\.g\. 10GiB, or off\) to change it$/);
  const set = await evictAfterBuild({ startedMs: Date.now(), writesAtStart, report: (m) => messages.push(m), root, env: { AOTPACK_CACHE_MAX_SIZE: "1" } });
  assert.deepEqual(set, []);
});
