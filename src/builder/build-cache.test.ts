/** The build cache's own rules, on a fake compiler: atomic placement of artifact entries. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parsePlatform } from "../oci/platform.ts";
import type { Artifact, CompileRequest, Compiler } from "../compile/types.ts";
import { createHash } from "node:crypto";
import { compileCached, layerCached } from "./build-cache.ts";
import { tempCache, withEnv } from "../../test/support/index.ts";

const AMD64 = parsePlatform("linux/amd64");

test("two builds compiling the same key at once both succeed and leave one whole entry", async (t) => {
  const root = await tempCache(t, "aotpack-build-cache-");
  let compiles = 0;
  const compiler: Compiler = {
    runtime: "bun",
    supportedPlatforms: () => [AMD64],
    async compile(req: CompileRequest): Promise<Artifact> {
      compiles++;
      await sleep(20);
      await writeFile(join(req.outDir, "server"), "same bytes every time\n", { mode: 0o755 });
      return {
        platform: req.platform, runtime: "bun", layout: "single-file", compileMs: 1, entrypoint: ["/app/server"],
        elf: { class: 64, machine: "x86_64", interpreter: undefined, needed: [] } as unknown as Artifact["elf"],
        layers: [{ name: "app", files: [{ path: "/app/server", source: join(req.outDir, "server"), mode: 0o755 }] }],
      };
    },
  };
  const request = { projectDir: root, platform: AMD64, layout: "single-file" as const };
  const key = { lookup: "c".repeat(64), root, hashes: new Map() };
  const results = await Promise.allSettled(Array.from({ length: 4 }, () => compileCached(compiler, request, key, true, () => {})));
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled", "fulfilled"], JSON.stringify(results.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))));
  assert.equal(compiles, 4);
  for (const r of results) {
    const source = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof compileCached>>>).value.artifact.layers[0]!.files[0]!.source;
    assert.equal(await readFile(source, "utf8"), "same bytes every time\n");
  }
  assert.deepEqual((await readdir(join(root, "artifacts"))).filter((n) => !n.startsWith(".")), [key.lookup]);
  const hit = await compileCached(compiler, request, key, true, () => {});
  assert.equal(hit.fromCache, true);
});

test("a cached layer made by another compressor (another zlib, libdeflate or level) is not served: it is made again", async (t) => {
  const root = await tempCache(t);
  // The stream encoder's identity names Node's zlib; an upgraded Node is the same as an upgraded aotpack encoder.
  withEnv(t, { AOTPACK_COMPRESSOR: "stream" });
  const source = join(root, "server");
  await writeFile(source, "#!/bin/sh\necho hi\n".repeat(100));
  const sha = createHash("sha256").update(await readFile(source)).digest("hex");
  const entries = [{ path: "/app/server", type: "file" as const, source, mode: 0o755 }];
  const cached = async (): Promise<boolean> => (await layerCached(entries, [sha], sha, "gzip", 0, true, () => {})).fromCache;
  assert.equal(await cached(), false, "first: made");
  assert.equal(await cached(), true, "second: from the cache");
  const zlibVersion = Object.getOwnPropertyDescriptor(process.versions, "zlib")!;
  Object.defineProperty(process.versions, "zlib", { ...zlibVersion, value: `${zlibVersion.value}-other` });
  try {
    assert.equal(await cached(), false, "another zlib: made again, not the other encoder's bytes");
  } finally {
    Object.defineProperty(process.versions, "zlib", zlibVersion);
  }
  assert.equal(await cached(), true);
});

/** A compiler that reports what it "read" (like a metafile) and can edit an input while it compiles. */
function readingCompiler(inputs: string[], duringCompile?: () => Promise<void>): Compiler & { compiles: number } {
  const c = {
    runtime: "bun" as const,
    compiles: 0,
    supportedPlatforms: () => [AMD64],
    async compile(req: CompileRequest): Promise<Artifact> {
      c.compiles++;
      const body = (await Promise.all(inputs.map((f) => readFile(f, "utf8")))).join("");
      await duringCompile?.();
      await writeFile(join(req.outDir, "server"), body, { mode: 0o755 });
      return {
        platform: req.platform, runtime: "bun", layout: "single-file", compileMs: 1, entrypoint: ["/app/server"], readFiles: inputs,
        elf: { class: 64, machine: "x86_64", interpreter: undefined, needed: [] } as unknown as Artifact["elf"],
        layers: [{ name: "app", files: [{ path: "/app/server", source: join(req.outDir, "server"), mode: 0o755 }] }],
      };
    },
  };
  return c;
}

test("issue 33: the second level keys what the compiler read; an input edited during the compile is not reused; a broken record is a miss", async (t) => {
  const root = await tempCache(t, "aotpack-compile-key-");
  const project = join(root, "proj");
  const dep = join(root, "node_modules", "dep", "index.js");
  await mkdir(join(root, "node_modules", "dep"), { recursive: true });
  await mkdir(project);
  // Written, then compiled a moment later: an input written just before a compile is taken as written during it.
  const edit = async (text: string) => {
    await writeFile(dep, text);
    await sleep(100);
  };
  await edit("v1");
  const request = { projectDir: project, platform: AMD64, layout: "single-file" as const };
  const key = () => ({ lookup: "d".repeat(64), root, hashes: new Map() });
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);

  const compiler = readingCompiler([dep]);
  assert.equal((await compileCached(compiler, request, key(), true, warn)).fromCache, false);
  assert.equal((await compileCached(compiler, request, key(), true, warn)).fromCache, true);
  await edit("v2");
  const v2 = await compileCached(compiler, request, key(), true, warn);
  assert.equal(v2.fromCache, false, "an edited input is a miss");
  assert.equal(await readFile(v2.artifact.layers[0]!.files[0]!.source, "utf8"), "v2");
  // Both versions stay findable (switching branches back is a hit).
  await edit("v1");
  assert.equal((await compileCached(compiler, request, key(), true, warn)).fromCache, true);
  assert.equal(compiler.compiles, 2);

  // Edited while compiling: what was read is v1-then-v3, so the result is never recorded under v3's hash.
  const racing = readingCompiler([dep], () => writeFile(dep, "v3"));
  await compileCached(racing, request, { ...key(), lookup: "e".repeat(64) }, true, warn);
  assert.ok(warnings.some((w) => /changed while it was compiled/.test(w)), warnings.join("\n"));
  assert.equal((await compileCached(racing, request, { ...key(), lookup: "e".repeat(64) }, true, warn)).fromCache, false, "not reused");

  // A record that is not JSON: dropped with a warning, compiled again, recorded again.
  await edit("v4");
  const recordFile = join(root, "compile-inputs", "dd", "d".repeat(64));
  const garbage = Buffer.from("{not json");
  await writeFile(recordFile, Buffer.concat([createHash("sha256").update(garbage).digest(), garbage]));
  warnings.length = 0;
  assert.equal((await compileCached(compiler, request, key(), true, warn)).fromCache, false);
  assert.ok(warnings.some((w) => /compile inputs record/.test(w)), warnings.join("\n"));
  assert.equal((await compileCached(compiler, request, key(), true, warn)).fromCache, true);

  // An input that is gone is a miss, not a crash.
  await rm(dep);
  await assert.rejects(compileCached(compiler, request, key(), true, warn), /ENOENT/);
});
