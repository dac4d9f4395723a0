/**
 * Issue 16: nothing poisoned in the cache ships. A fast fake compiler (the real ones are
 * covered by the e2e build-cache tests) so each attack is one small build on `scratch`.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { readElf } from "../elf/read-elf.ts";
import { readLayout } from "../oci/layout-source.ts";
import { parsePlatform, type Platform } from "../oci/platform.ts";
import { staticHello } from "../oci/testing/static-elf.ts";
import { validate } from "../oci/validate.ts";
import { layoutPublisher } from "../publish/layout.ts";
import type { Artifact, CompileRequest, Compiler } from "../compile/types.ts";
import { build, type BuildReporter } from "./build.ts";
import { withEnv } from "../../test/support/index.ts";
import { layeredArtifact } from "../compile/testing/toy-compiler.ts";

const run = promisify(execFile);
const AMD64 = parsePlatform("linux/amd64");

/** Writes a static ELF (single-file) or an ELF "runtime" kept outside outDir + app.js (layered, like Bun's cached runtime). */
function fakeCompiler(runtimeDir: string): Compiler & { compiles: number } {
  const c = {
    runtime: "bun" as const,
    compiles: 0,
    supportedPlatforms: (): Platform[] => [AMD64],
    async compile(req: CompileRequest): Promise<Artifact> {
      c.compiles++;
      const exe = staticHello("amd64", "hello from the real build");
      if (req.layout === "layered") {
        // Like ensureNpmRuntime: the runtime lives in a shared cache and is (re)written when bad.
        const runtime = join(runtimeDir, "bun");
        const current = await readFile(runtime).catch(() => undefined);
        if (!current?.equals(exe)) await writeFile(runtime, exe, { mode: 0o755 });
        return layeredArtifact(req, runtime);
      }
      const out = join(req.outDir, "server");
      await writeFile(out, exe, { mode: 0o755 });
      return {
        platform: req.platform, runtime: "bun", layout: "single-file", compileMs: 1, entrypoint: ["/app/server"], elf: await readElf(out),
        layers: [{ name: "app", files: [{ path: "/app/server", source: out, mode: 0o755 }] }],
      };
    },
  };
  return c;
}

interface Env { root: string; project: string; runtimeDir: string; compiler: ReturnType<typeof fakeCompiler>; warnings: string[]; reporter: BuildReporter }

async function setup(t: TestContext): Promise<Env> {
  const root = await mkdtemp(join(tmpdir(), "aotpack-poison-"));
  withEnv(t, { AOTPACK_CACHE_DIR: join(root, "cache") });
  t.after(() => rm(root, { recursive: true, force: true }));
  const project = join(root, "app");
  const runtimeDir = join(root, "runtimes");
  await mkdir(project);
  await mkdir(runtimeDir);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "poison", main: "index.js" }));
  await writeFile(join(project, "index.js"), "export {};\n");
  const warnings: string[] = [];
  const reporter: BuildReporter = { step() {}, info() {}, warn: (m) => warnings.push(m) };
  return { root, project, runtimeDir, compiler: fakeCompiler(runtimeDir), warnings, reporter };
}

function buildOnce(e: Env, extra: Partial<Parameters<typeof build>[0]> = {}) {
  return build({ projectDir: e.project, platforms: [AMD64], base: "scratch", sourceDateEpoch: 0, compiler: e.compiler, reporter: e.reporter, ...extra });
}

/** Every file under dir (recursively) whose name matches. */
async function filesUnder(dir: string, match: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile() && match(entry.name)) out.push(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name));
  }
  return out;
}

/** Flip one byte in place and restore the mtime: same size, same mtime, other content. */
async function poison(file: string, offset?: number): Promise<void> {
  const st = await stat(file, { bigint: true });
  const at = offset ?? Number(st.size / 2n);
  const fh = await open(file, "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  await fh.write(b, 0, 1, at);
  await fh.close();
  // touch keeps the nanoseconds (utimes would round them and give the change away).
  const ns = st.mtimeNs;
  await run("touch", ["-m", "-d", `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`, file]);
  assert.equal((await stat(file, { bigint: true })).mtimeNs, ns);
}

test("a compiled artifact changed in the cache (same size and mtime) is rebuilt, not shipped", async (t) => {
  const e = await setup(t);
  const clean = await buildOnce(e);
  const [server] = await filesUnder(join(e.root, "cache", "artifacts"), (n) => n === "server");
  assert.ok(server, "the artifact is cached");
  await poison(server);
  // The layer cache may have evicted the layer (or never had it, for another compression):
  // whatever makes the layer again must not read the poisoned bytes.
  await rm(join(e.root, "cache", "layers"), { recursive: true, force: true });
  const again = await buildOnce(e);
  assert.equal(again.digest, clean.digest, "the image is the clean one");
  assert.equal(e.compiler.compiles, 2, "the bad entry was dropped and compiled again");
  assert.ok(e.warnings.some((w) => /cache/.test(w) && /artifact/.test(w)), `a warning names the bad entry: ${e.warnings.join(" | ")}`);
  const third = await buildOnce(e);
  assert.equal(third.digest, clean.digest);
  assert.equal(e.compiler.compiles, 2, "the rebuilt entry is reused");
});

test("a flipped byte in the cached runtime (layered) is not shipped", async (t) => {
  const e = await setup(t);
  const clean = await buildOnce(e, { layout: "layered" });
  await poison(join(e.runtimeDir, "bun"));
  await rm(join(e.root, "cache", "layers"), { recursive: true, force: true });
  const again = await buildOnce(e, { layout: "layered" });
  assert.equal(again.digest, clean.digest, "the image is the clean one");
});

test("a corrupt cached layer blob is dropped and rebuilt with a warning, not a dead end", async (t) => {
  const e = await setup(t);
  const clean = await buildOnce(e);
  const appLayer = clean.platforms[0]!.layers.find((l) => l.origin === "app")!;
  const blob = join(e.root, "cache", "blobs", "sha256", appLayer.digest.slice(7));
  await poison(blob, 40);
  const again = await buildOnce(e);
  assert.equal(again.digest, clean.digest);
  const out = join(e.root, "out");
  await layoutPublisher(out).publish(again.index, { tag: "v1" });
  await validate(await (await readLayout(out)).resolve("v1"));
  assert.ok(e.warnings.some((w) => /layer/.test(w) && /cache/.test(w)), `a warning names the bad layer: ${e.warnings.join(" | ")}`);
});

test("a git remote with a token loses it before it becomes a label or annotation", async (t) => {
  const e = await setup(t);
  const git = (...args: string[]) => run("git", ["-C", e.project, ...args]);
  await git("init", "-q");
  await git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x");
  await git("remote", "add", "origin", "https://oauth2:glpat-SECRET1@git.example/team/app.git?access_token=SECRET2&private_token=SECRET3");
  const result = await buildOnce(e);
  const image = result.platforms[0]!.image;
  const everything = JSON.stringify([await image.manifest(), await image.configFile(), await result.index.indexManifest()]);
  assert.doesNotMatch(everything, /SECRET/);
  assert.match(everything, /https:\/\/git\.example\/team\/app\.git/);
});

test("a corrupt chunk in the chunk cache is found (with a warning), not shipped, and healed", async (t) => {
  const e = await setup(t);
  const clean = await buildOnce(e);
  const chunks = await filesUnder(join(e.root, "cache", "chunks"), (n) => /^[0-9a-f]{64}$/.test(n));
  assert.ok(chunks.length > 0, "the layer's chunks are cached");
  for (const c of chunks) await poison(c, 40);
  // Make the layer again from the same artifact: the chunks are asked for.
  await rm(join(e.root, "cache", "layers"), { recursive: true, force: true });
  await rm(join(e.root, "cache", "blobs"), { recursive: true, force: true });
  const again = await buildOnce(e);
  assert.equal(again.digest, clean.digest, "the image is the clean one");
  assert.ok(e.warnings.some((w) => /cache: chunk/.test(w) && /corrupt/.test(w)), `a warning names the bad chunk: ${e.warnings.join(" | ")}`);
  const { verifyCache } = await import("../cache-admin.ts");
  const report = await verifyCache(join(e.root, "cache"));
  assert.deepEqual(report.problems, [], "the chunk was written again");
  assert.ok(report.checked >= chunks.length);
});

test("after a build that added to the cache, AOTPACK_CACHE_MAX_SIZE evicts least recently used entries, never the build's own", async (t) => {
  const e = await setup(t);
  const { casPut, keyedStore } = await import("../cache.ts");
  const { utimes } = await import("node:fs/promises");
  const cache = join(e.root, "cache");
  const monthAgo = new Date(Date.now() - 30 * 86400e3);
  const junk = [(await casPut("blobs", Buffer.alloc(100_000, 1))).path, (await casPut("blobs", Buffer.alloc(100_000, 2))).path];
  await keyedStore(join(cache, "chunks"), "chunk").put("ab".repeat(32), Buffer.alloc(100_000, 3));
  junk.push(join(cache, "chunks", "ab", "ab".repeat(32)));
  for (const j of junk) await utimes(j, monthAgo, monthAgo);
  withEnv(t, { AOTPACK_CACHE_MAX_SIZE: "1" });
  const first = await buildOnce(e);
  for (const j of junk) await assert.rejects(stat(j), { code: "ENOENT" }, `${j} was evicted`);
  // Said as a warning: a live progress view keeps warnings on screen, notes vanish when it finishes.
  assert.ok(e.warnings.some((w) => /^cache: evicted \d+ least recently used entr(y|ies) .* to stay under AOTPACK_CACHE_MAX_SIZE 1 B/.test(w)), e.warnings.join(" | "));
  // Everything the build made or used is still there: the image publishes, and a rebuild is all cache hits.
  const out = join(e.root, "out");
  await layoutPublisher(out).publish(first.index, { tag: "v1" });
  await validate(await (await readLayout(out)).resolve("v1"));
  const appLayer = first.platforms[0]!.layers.find((l) => l.origin === "app")!;
  await stat(join(cache, "blobs", "sha256", appLayer.digest.slice(7)));
  const again = await buildOnce(e);
  assert.equal(again.digest, first.digest);
  assert.equal(e.compiler.compiles, 1, "the artifact was kept");
  assert.equal(again.platforms[0]!.compiledFromCache, true);
  // A build that only read the cache adds nothing, so it does not scan it (the warm path stays cheap).
  const late = (await casPut("blobs", Buffer.alloc(1000, 9))).path;
  await utimes(late, monthAgo, monthAgo);
  await buildOnce(e);
  await stat(late);
  process.env.AOTPACK_CACHE_MAX_SIZE = "off";
  await rm(join(cache, "layers"), { recursive: true, force: true });
  await buildOnce(e);
  await stat(late);
});

test("issue 33: a layer record that is not JSON is a miss: dropped with a warning naming the file, and the build succeeds", async (t) => {
  const e = await setup(t);
  const clean = await buildOnce(e);
  const records = await filesUnder(join(e.root, "cache", "layers"), (n) => n.endsWith(".json"));
  assert.ok(records.length > 0, "the app layer is recorded");
  for (const r of records) await writeFile(r, "{garbage");
  const again = await buildOnce(e);
  assert.equal(again.digest, clean.digest, "the layer was made again");
  for (const r of records) assert.ok(e.warnings.some((w) => w.includes(r) && /dropped/.test(w)), `a warning names ${r}: ${e.warnings.join(" | ")}`);
  for (const r of records) assert.notEqual(await readFile(r, "utf8"), "{garbage", "the record was written again");
  e.warnings.length = 0;
  await buildOnce(e);
  assert.deepEqual(e.warnings, [], "the next build reuses the new record");
});
