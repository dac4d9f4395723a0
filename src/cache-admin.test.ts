/** `aotpack cache ls|prune|verify` over a real cache layout, through the CLI. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { casPut, cacheFsError } from "./cache.ts";
import { main } from "./cli/main.ts";

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
  const root = await mkdtemp(join(tmpdir(), "aotpack-cache-cmd-"));
  const before = process.env.AOTPACK_CACHE_DIR;
  process.env.AOTPACK_CACHE_DIR = root;
  t.after(async () => {
    if (before === undefined) delete process.env.AOTPACK_CACHE_DIR;
    else process.env.AOTPACK_CACHE_DIR = before;
    await rm(root, { recursive: true, force: true });
  });
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
