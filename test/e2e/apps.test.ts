/**
 * A new user's apps (issue 17), each with its own package.json and committed package-lock.json,
 * the real framework installed from npm at test time (`npm ci`). Each is built for linux/amd64 and
 * linux/arm64 with entry detection (no aotpack.entry), then `--verify` runs both images (arm64
 * under qemu-user) against the app's own aotpack.verify checks. One cache dir is shared.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";

const APPS = join(REPO_ROOT, "test/e2e/apps");

interface BuildJson {
  platforms: { platform: string }[];
  verify?: { ok: boolean; platforms: { platform: string; ok: boolean; checks?: unknown[]; error?: string }[] };
}

async function buildAndVerify(name: string, extra: string[] = [], platforms = ["linux/amd64", "linux/arm64"]): Promise<BuildJson> {
  const dir = await mkdtemp(join(tmpdir(), `aotpack-app-${name}-`));
  try {
    const project = join(dir, name);
    await cp(join(APPS, name), project, { recursive: true });
    const npm = spawnSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: project, encoding: "utf8" });
    assert.equal(npm.status, 0, `npm ci: ${npm.stderr}`);
    const r = await runCli(["build", project, "--platform", platforms.join(","), "-o", `oci:${join(dir, "image")}:e2e`, "--verify", "--json", ...extra]);
    assert.equal(r.code, 0, `${name}: ${r.stderr.split("\n").slice(-25).join("\n")}`);
    const j = JSON.parse(r.stdout) as BuildJson;
    assert.deepEqual(j.platforms.map((p) => p.platform), platforms);
    assert.ok(j.verify?.ok, JSON.stringify(j.verify));
    assert.deepEqual(j.verify?.platforms.map((p) => p.platform), platforms);
    return j;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("Express 5: npm init's main (missing) and scripts.start → server.js", { timeout: 600_000 }, async () => {
  await buildAndVerify("express");
});

// Binds localhost: the sandbox provides /etc/hosts, as container runtimes do. Its SIGTERM handler
// is installed after listen() resolves, ~0.1 s after it serves under qemu: verify waits for it.
test("Fastify: the default listen({ port }) on localhost, both platforms (arm64 under qemu)", { timeout: 600_000 }, async () => {
  await buildAndVerify("fastify");
});

test("Hono with static files shipped by aotpack.files", { timeout: 600_000 }, async () => {
  await buildAndVerify("hono-static");
});

test("Bun app from bun init (\"module\") using bun:sqlite", { timeout: 600_000 }, async () => {
  await buildAndVerify("bun-sqlite");
});
