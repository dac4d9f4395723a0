/** The build cache's own rules, on a fake compiler: atomic placement of artifact entries. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
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
  const key = "c".repeat(64);
  const results = await Promise.allSettled(Array.from({ length: 4 }, () => compileCached(compiler, request, key, true, () => {})));
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled", "fulfilled"], JSON.stringify(results.map((r) => (r.status === "rejected" ? String(r.reason) : "ok"))));
  assert.equal(compiles, 4);
  for (const r of results) {
    const source = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof compileCached>>>).value.artifact.layers[0]!.files[0]!.source;
    assert.equal(await readFile(source, "utf8"), "same bytes every time\n");
  }
  assert.deepEqual((await readdir(join(root, "artifacts"))).filter((n) => !n.startsWith(".")), [key]);
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
