/**
 * Node 24 (the current LTS) runs the CLI, and the zstd path runs in the suite even when the
 * suite itself runs on Node 20: the Node 24.21.0 that the SEA compiler caches runs the chunked
 * compressor's tests (zstd included) and a zstd build, whose blobs `zstd -t` then checks.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ensureNodeRuntime, NODE_SEA_VERSION } from "../../src/compile/node-sea.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { REPO_ROOT, runCli } from "../support/cli.ts";
import { inCI, requireTool, run, runOk, tempDir } from "../support/tools.ts";

async function node24(): Promise<string> {
  const [major = 0] = process.versions.node.split(".").map(Number);
  if (major >= 24) return process.execPath;
  return ensureNodeRuntime(parsePlatform("linux/amd64"));
}

const x64 = process.arch === "x64";
const skip = x64 ? false : `the cached Node ${NODE_SEA_VERSION} is linux/amd64; this host is ${process.arch}`;
if (!x64 && inCI()) throw new Error(`node24.test.ts needs an x64 host in CI (${process.arch})`);

test(`chunked compressor tests, zstd included, pass under Node ${NODE_SEA_VERSION}`, { skip, timeout: 300_000 }, async () => {
  const node = await node24();
  // Without NODE_TEST_CONTEXT, which would make the child talk the runner's internal protocol instead of TAP.
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  const r = await run(node, ["--import", "tsx", "--test", "--test-reporter=tap", "src/oci/chunked-compress.test.ts"], { cwd: REPO_ROOT, env, timeoutMs: 240_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok \d+ - chunked zstd: .*$/m);
  assert.doesNotMatch(r.stdout, /chunked zstd.*# SKIP/);
});

test(`aotpack build --compression zstd under Node ${NODE_SEA_VERSION}`, { skip, timeout: 600_000 }, async (t) => {
  const zstd = requireTool(t, "zstd");
  if (!zstd) return;
  const node = await node24();
  const dir = await tempDir(t, "aotpack-node24-");
  const layout = join(dir, "layout");
  const fixture = join(REPO_ROOT, "test/fixtures/hello-server");
  const r = await runCli(["build", fixture, "--platform", "linux/amd64", "--compression", "zstd", "-o", `oci:${layout}:v1`, "--json"], { node });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { platforms: { layers: { mediaType?: string; digest: string }[] }[] };
  assert.equal(json.platforms.length, 1);
  // Every blob that is a zstd stream passes `zstd -t`: the app layer and the deb: base's layer
  // (--compression is the compression of every layer).
  let frames = 0;
  for (const name of await readdir(join(layout, "blobs", "sha256"))) {
    const file = join(layout, "blobs", "sha256", name);
    if ((await readFile(file)).subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
      await runOk(zstd, ["-t", "-q", file]);
      frames++;
    }
  }
  assert.ok(frames >= 2, `${frames} zstd blobs: the base and app layers should both be zstd`);
});
