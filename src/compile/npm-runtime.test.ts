import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AotpackError } from "../errors.ts";
import { bunRuntimeSpec, ensureBunRuntime, installedBun } from "./bun-runtime.ts";
import { ensureNpmRuntime, runtimeCachePath, sha256File, verifyIntegrity } from "./npm-runtime.ts";
import { compileOffline } from "./testing/compile-offline.ts";

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/hello-server/", import.meta.url));
const ARM64 = { os: "linux", architecture: "arm64" };

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe("runtime fetch through npm", () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "aotpack-npm-runtime-"));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test("npm unreachable + empty cache → AotpackError naming the package and the registry; nothing cached", async () => {
    const cache = join(scratch, "unreachable-cache");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AOTPACK_CACHE_DIR: cache,
      // A closed loopback port, and an empty npm cache so npm cannot answer from its own store.
      npm_config_registry: "http://127.0.0.1:1/",
      npm_config_cache: join(scratch, "empty-npm-cache"),
      npm_config_fetch_retries: "0",
    };
    const version = installedBun().version;
    await assert.rejects(ensureBunRuntime(ARM64, { env }), (err: unknown) => {
      assert.ok(err instanceof AotpackError, String(err));
      assert.equal(err.exitCode, 1);
      assert.match(err.message, new RegExp(`@oven/bun-linux-aarch64@${version.replaceAll(".", "\\.")}`));
      assert.match(err.message, /http:\/\/127\.0\.0\.1:1/);
      assert.ok(err.hint);
      return true;
    });
    assert.deepEqual(await listFiles(cache), []);
  });

  test("the same failure through a whole compile (child process): exit code 1, package and registry named", async () => {
    const out = join(scratch, "compile-out");
    const result = await compileOffline(
      "bun",
      [{ projectDir: FIXTURE, platform: ARM64, layout: "single-file", outDir: out }],
      {
        unshare: false,
        env: {
          AOTPACK_CACHE_DIR: join(scratch, "unreachable-cache-2"),
          npm_config_registry: "http://127.0.0.1:1/",
          npm_config_cache: join(scratch, "empty-npm-cache-2"),
          npm_config_fetch_retries: "0",
        },
      },
    );
    assert.equal(result.exitCode, 1);
    assert.match(result.error ?? "", /^linux\/arm64: cannot fetch runtime @oven\/bun-linux-aarch64@.* from http:\/\/127\.0\.0\.1:1/);
  });

  test("a corrupted cached runtime is detected and fetched again", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, AOTPACK_CACHE_DIR: join(scratch, "corrupt-cache") };
    const spec = bunRuntimeSpec(ARM64);
    const messages: string[] = [];
    const onProgress = (m: string): void => void messages.push(m);

    // Seed the scratch cache from the default one (fetched there once), so this test fetches only once.
    const shared = await ensureNpmRuntime(spec);
    const path = runtimeCachePath(spec, env);
    await mkdir(dirname(path), { recursive: true });
    await copyFile(shared, path);
    await copyFile(`${shared}.sha256`, `${path}.sha256`);
    const recorded = (await readFile(`${path}.sha256`, "utf8")).trim();
    assert.match(recorded, /^[a-f0-9]{64}$/);

    // A good cached copy is verified and used as is: no fetch.
    assert.equal(await ensureNpmRuntime(spec, { env, onProgress }), path);
    assert.deepEqual(messages, []);

    // Flip bytes in the middle of the cached file.
    const fh = await open(path, "r+");
    await fh.write(Buffer.from("corrupted!"), 0, 10, 1_000_000);
    await fh.close();
    assert.notEqual(await sha256File(path), recorded);
    assert.equal(await ensureNpmRuntime(spec, { env, onProgress }), path);
    assert.ok(messages.some((m) => /is corrupt .*fetching it again/.test(m)), messages.join("\n"));
    assert.ok(messages.some((m) => /fetching runtime @oven\/bun-linux-aarch64@/.test(m)), messages.join("\n"));
    assert.equal(await sha256File(path), recorded);
    assert.equal((await stat(path)).mode & 0o777, 0o755);
    assert.deepEqual((await readdir(dirname(path))).sort(), ["bun", "bun.integrity", "bun.sha256"], "no temp files left behind (the binary, its npm integrity and its sha256)");
  });

  test("verifyIntegrity checks sha512 SRI over the bytes", async () => {
    const file = join(scratch, "blob");
    await writeFile(file, "some tarball bytes");
    const good = `sha512-${createHash("sha512").update("some tarball bytes").digest("base64")}`;
    await verifyIntegrity(file, good, "pkg@1");
    await verifyIntegrity(file, `sha1-abc ${good}`, "pkg@1");
    const bad = `sha512-${createHash("sha512").update("other bytes").digest("base64")}`;
    await assert.rejects(verifyIntegrity(file, bad, "pkg@1"), /pkg@1: tarball integrity mismatch/);
    await assert.rejects(verifyIntegrity(file, "sha1-abcd", "pkg@1"), /no sha512 integrity/);
  });
});
