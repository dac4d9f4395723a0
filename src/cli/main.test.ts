import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../test/support/cli.ts";

test("--version and --help exit 0; no command is a usage error", async () => {
  const v = await runCli(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^aotpack \d+\.\d+\.\d+/);
  const h = await runCli(["build", "--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--platform/);
  assert.match(h.stdout, /--runtime bun\|node\|dotnet-aot /, "build --help names every runtime");
  const none = await runCli([]);
  assert.equal(none.code, 2);
});

test("usage errors are one line with exit code 2", async () => {
  for (const args of [
    ["frobnicate"],
    ["build", "--platform", "linux/riscv128"],
    ["build", "--bogus"],
    ["build", "--output", "tarball:x"],
    ["build", "--layout", "fat"],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^aotpack: error: .+\n(hint: .+\n)?$/, r.stderr);
  }
});

test("--json reports errors as JSON on stdout", async () => {
  const r = await runCli(["build", "--platform", "windows/amd64x", "--json"]);
  assert.equal(r.code, 2);
  const j = JSON.parse(r.stdout) as { ok: boolean; error: string; exitCode: number };
  assert.equal(j.ok, false);
  assert.equal(j.exitCode, 2);
  assert.match(j.error, /invalid platform/);
});

test("build refuses bad project config and taken outputs before any work, writing nothing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-cli-"));
  try {
    const project = join(dir, "proj");
    await mkdir(project);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "p", aotpack: { entyr: "x.ts" } }));
    const bad = await runCli(["build", project, "--platform", "linux/amd64", "-o", `oci:${join(dir, "out")}`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown config key "entyr"/);

    await writeFile(join(project, "package.json"), JSON.stringify({ name: "p", aotpack: { entry: "x.ts" } }));
    const taken = join(dir, "taken");
    await mkdir(taken);
    await writeFile(join(taken, "precious.txt"), "keep me");
    const r = await runCli(["build", project, "--platform", "linux/amd64", "-o", `oci:${taken}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists and is not an OCI layout/);
    assert.deepEqual(await readdir(taken), ["precious.txt"]);

    const two = await runCli(["build", project, "--platform", "linux/amd64,linux/arm64", "-o", `docker-archive:${join(dir, "d.tar")}`]);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /--docker-platform/);
    assert.deepEqual((await readdir(dir)).sort(), ["proj", "taken"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
