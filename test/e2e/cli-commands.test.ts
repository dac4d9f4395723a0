/** `run`, `dockerfile` and `lint` through the CLI, as a user types them. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";
import { tempDir } from "../support/tools.ts";
import { freePort } from "../support/registry.ts";

const fixture = join(REPO_ROOT, "test/fixtures/hello-server");

test("aotpack run: serves on the published port, and SIGTERM to aotpack stops the app with its exit code", { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-run-");
  const b = await runCli(["build", fixture, "--platform", "linux/amd64,linux/arm64", "-o", `oci:${join(dir, "img")}:v1`]);
  assert.equal(b.code, 0, b.stderr);
  for (const platform of ["linux/amd64", "linux/arm64"]) {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "src/cli/bin.ts"), "run", `oci:${join(dir, "img")}:v1`, "--platform", platform, "-p", `${port}:8080`], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      let body = "";
      while (!body) {
        try {
          body = await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })).text();
        } catch {
          if (Date.now() > deadline) assert.fail(`${platform}: no answer on ${port}: ${out}`);
          await new Promise((r) => setTimeout(r, 150));
        }
      }
      assert.equal(body, "hello");
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))]);
      assert.equal(code, 0, `${platform}: aotpack run's exit code after SIGTERM: ${out}`);
      assert.match(out, /hello-server: SIGTERM/);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }
});

test("aotpack dockerfile writes a Dockerfile that lints clean, and refuses to overwrite without --force", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-df-");
  const project = join(dir, "p");
  await cp(fixture, project, { recursive: true });
  const r = await runCli(["dockerfile", project, "--platform", "linux/amd64,linux/arm64"]);
  assert.equal(r.code, 0, r.stderr);
  const dockerfile = await readFile(join(project, "Dockerfile"), "utf8");
  assert.match(dockerfile, /FROM --platform=\$BUILDPLATFORM/);
  assert.match(dockerfile, /ARG TARGETARCH/);
  assert.ok((await readdir(project)).includes(".dockerignore"));
  const lint = await runCli(["lint", join(project, "Dockerfile")]);
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  const again = await runCli(["dockerfile", project]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /--force/);
  assert.equal(await readFile(join(project, "Dockerfile"), "utf8"), dockerfile);
  assert.equal((await runCli(["dockerfile", project, "--force"])).code, 0);
});

test("aotpack lint finds the post's pitfalls; --fix rewrites the file and what is left is reported", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-lint-");
  await cp(join(REPO_ROOT, "src/dockerfile/testdata/vs-generated.Dockerfile"), join(dir, "Dockerfile"));
  await cp(join(REPO_ROOT, "src/dockerfile/testdata/test.csproj"), join(dir, "test.csproj"));
  const before = await runCli(["lint", join(dir, "Dockerfile"), "--json"]);
  assert.equal(before.code, 1);
  const found = (JSON.parse(before.stdout) as { findings: { rule: string; line: number }[] }).findings;
  for (const rule of ["AOT001", "AOT003", "AOT005"]) assert.ok(found.some((f) => f.rule === rule), `${rule} in ${JSON.stringify(found)}`);
  const fixed = await runCli(["lint", join(dir, "Dockerfile"), "--fix"]);
  assert.match(fixed.stdout, /^fixed /m);
  const after = await readFile(join(dir, "Dockerfile"), "utf8");
  assert.match(after, /--platform=\$BUILDPLATFORM/);
  assert.match(after, /-a \$TARGETARCH|--arch \$TARGETARCH/);
  assert.match(after, /chiseled/);
  const relint = await runCli(["lint", join(dir, "Dockerfile")]);
  assert.equal(relint.code, fixed.code, "lint after --fix reports what --fix left");
});
