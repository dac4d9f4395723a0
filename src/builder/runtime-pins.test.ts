/**
 * Issue 33: the runtime executables taken from npm are pinned in aotpack.lock (the tarball's integrity and
 * the executable's sha256). A cached runtime swapped together with its records (`bun.sha256`,
 * `bun.integrity`) passes the cache's own check, but not the lock's: it is dropped, fetched again, and
 * the image and SBOM are the pinned ones. Real `npm pack` against a loopback registry serving a tiny
 * runtime package; a compiler that ships that runtime as Bun's layered layout does.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { staticHello } from "../oci/testing/static-elf.ts";
import { parsePlatform, type Platform } from "../oci/platform.ts";
import { ensureNpmRuntime, runtimeCachePath, runtimeFacts } from "../compile/npm-runtime.ts";
import { startFakeRuntimeRegistry, type FakeRuntimeRegistry } from "../compile/testing/npm-registry.ts";
import { layeredArtifact } from "../compile/testing/toy-compiler.ts";
import type { Artifact, CompileRequest, Compiler } from "../compile/types.ts";
import { build, type BuildReporter } from "./build.ts";
import { tempDir, withEnv } from "../../test/support/index.ts";

const AMD64 = parsePlatform("linux/amd64");
const GENUINE = staticHello("amd64", "the genuine runtime");

function runtimeCompiler(registry: FakeRuntimeRegistry): Compiler {
  return {
    runtime: "bun",
    supportedPlatforms: (): Platform[] => [AMD64],
    async compile(req: CompileRequest): Promise<Artifact> {
      const runtime = await ensureNpmRuntime(registry.spec, { cwd: req.projectDir });
      return { ...(await layeredArtifact(req, runtime)), inputs: { bundled: ["index.js"], runtime: await runtimeFacts(registry.spec, runtime) } };
    },
  };
}

interface Env { root: string; project: string; lockfile: string; registry: FakeRuntimeRegistry; integrity: string; warnings: string[]; infos: string[]; reporter: BuildReporter }

async function setup(t: TestContext): Promise<Env> {
  const root = await tempDir(t, "aotpack-runtime-pins-");
  const registry = await startFakeRuntimeRegistry();
  t.after(() => registry.stop());
  const integrity = await registry.serve(GENUINE);
  withEnv(t, { AOTPACK_CACHE_DIR: join(root, "cache"), npm_config_registry: registry.url, npm_config_cache: join(root, "npm-cache"), npm_config_update_notifier: "false", npm_config_fetch_retries: "0" });
  const project = join(root, "app");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "pinned", main: "index.js" }));
  await writeFile(join(project, "index.js"), "export {};\n");
  const warnings: string[] = [];
  const infos: string[] = [];
  const reporter: BuildReporter = { step() {}, info: (m) => infos.push(m), warn: (m) => warnings.push(m) };
  return { root, project, lockfile: join(project, "aotpack.lock"), registry, integrity, warnings, infos, reporter };
}

function buildOnce(e: Env, extra: Partial<Parameters<typeof build>[0]> = {}) {
  return build({ projectDir: e.project, platforms: [AMD64], base: "scratch", layout: "layered", sourceDateEpoch: 0, compiler: runtimeCompiler(e.registry), reporter: e.reporter, ...extra });
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const KEY = "aotpack-fake-runtime@1.0.0";
const V1_LOCK = { lockfileVersion: 1, debian: { suite: "bookworm", release: "Sat, 11 Jul 2026 10:16:37 UTC", architectures: { amd64: [] } } };

test("issue 33: an old lock without runtime pins gains them (the debian section kept); --frozen-lock refuses a missing pin", async (t) => {
  const e = await setup(t);
  await writeFile(e.lockfile, JSON.stringify(V1_LOCK));
  await assert.rejects(buildOnce(e, { frozenLock: true }), /aotpack\.lock has no pin for runtime aotpack-fake-runtime@1\.0\.0/);
  assert.deepEqual(JSON.parse(await readFile(e.lockfile, "utf8")), V1_LOCK, "--frozen-lock never writes the lock");

  await buildOnce(e);
  const lock = JSON.parse(await readFile(e.lockfile, "utf8")) as { lockfileVersion: number; debian: unknown; runtimes: Record<string, unknown> };
  assert.equal(lock.lockfileVersion, 2);
  assert.deepEqual(lock.debian, V1_LOCK.debian);
  assert.deepEqual(lock.runtimes, { [KEY]: { integrity: e.integrity, sha256: sha256(GENUINE) } });
  assert.ok(e.infos.some((m) => m.includes(`aotpack.lock: pinned runtime ${KEY}`)), e.infos.join("\n"));
  // Pinned now: --frozen-lock builds.
  await buildOnce(e, { frozenLock: true });
});

test("issue 33: a cached runtime swapped with its bun.sha256 and bun.integrity is caught by the lock's pin, fetched again, and not shipped", async (t) => {
  const e = await setup(t);
  const clean = await buildOnce(e);
  const pinnedRuntime = clean.platforms[0]!.artifact.inputs?.runtime;
  assert.deepEqual(pinnedRuntime, { pkg: "aotpack-fake-runtime", version: "1.0.0", sha256: sha256(GENUINE), integrity: e.integrity });

  // Someone who can write the cache swaps the runtime and rewrites both of its records to match.
  const cached = runtimeCachePath(e.registry.spec);
  const evil = staticHello("amd64", "a swapped runtime!!");
  await writeFile(cached, evil);
  await writeFile(`${cached}.sha256`, `${sha256(evil)}\n`);
  await writeFile(`${cached}.integrity`, `sha512-${createHash("sha512").update(evil).digest("base64")}\n`);

  const again = await buildOnce(e, { cache: false });
  assert.ok(e.warnings.some((w) => w.includes(KEY) && /aotpack\.lock/.test(w) && /fetching it again/.test(w)), e.warnings.join("\n"));
  assert.deepEqual(await readFile(cached), GENUINE, "the cached runtime is the genuine one again");
  assert.equal(again.digest, clean.digest, "the same image and SBOM as the clean build");
  assert.deepEqual(again.platforms[0]!.artifact.inputs?.runtime, pinnedRuntime, "the SBOM's runtime hashes are the pinned ones");
});

test("issue 33: a registry that now serves other bytes for the pinned version fails the build (the lock names another runtime); --update-lock re-pins", async (t) => {
  const e = await setup(t);
  await buildOnce(e);
  await e.registry.serve(staticHello("amd64", "another runtime, same version"));
  withEnv(t, { npm_config_cache: join(e.root, "npm-cache-2") });
  // The cached runtime is swapped too, so a fetch is needed.
  const cached = runtimeCachePath(e.registry.spec);
  const swapped = staticHello("amd64", "swapped");
  await writeFile(cached, swapped);
  await writeFile(`${cached}.sha256`, `${sha256(swapped)}\n`);
  await assert.rejects(buildOnce(e, { cache: false }), /aotpack\.lock pins runtime aotpack-fake-runtime@1\.0\.0 .*another runtime/);
  // --update-lock accepts what npm serves now (fetched again, never the swapped cache entry).
  await writeFile(cached, swapped);
  await writeFile(`${cached}.sha256`, `${sha256(swapped)}\n`);
  const repinned = await buildOnce(e, { cache: false, updateLock: true });
  const lock = JSON.parse(await readFile(e.lockfile, "utf8")) as { runtimes: Record<string, { sha256: string }> };
  assert.equal(lock.runtimes[KEY]?.sha256, repinned.platforms[0]!.artifact.inputs?.runtime?.sha256);
  assert.notEqual(lock.runtimes[KEY]?.sha256, sha256(swapped));
  assert.notEqual(lock.runtimes[KEY]?.sha256, sha256(GENUINE));
});
