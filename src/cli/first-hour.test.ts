/** Frictions a new user hit in the first hour (issue 17): each one a usage-level contract. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, runCli } from "../../test/support/cli.ts";
import { defaultSourceDateEpoch } from "../builder/epoch.ts";
import { stripAnsi } from "../ansi.ts";

test("a missing project directory is a usage error: exit 2, one line naming it", async () => {
  const r = await runCli(["build", "/nonexistent/aotpack-proj", "--platform", "linux/amd64"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^aotpack: error: project directory \/nonexistent\/aotpack-proj does not exist\n(hint: .+\n)?$/);
  const d = await runCli(["dockerfile", "/nonexistent/aotpack-proj"]);
  assert.equal(d.code, 2, d.stderr);
});

test("--version --json prints JSON", async () => {
  const r = await runCli(["--version", "--json"]);
  assert.equal(r.code, 0);
  const j = JSON.parse(r.stdout) as { version: string };
  assert.match(j.version, /^\d+\.\d+\.\d+/);
});

test("aotpack's runtime dependencies do not include the examples' web framework", async () => {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  for (const name of ["hono", "@hono/node-server"]) {
    assert.equal(pkg.dependencies[name], undefined, `${name} is a runtime dependency`);
    assert.ok(pkg.devDependencies[name], `${name} should stay a devDependency for the bench`);
  }
});

test("the README's first command writes its image outside the npm package's files, into a git-ignored folder", async () => {
  const readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
  const first = /--output oci:([^\s:]+)/.exec(readme);
  assert.ok(first, "README has an --output oci: command");
  const out = first[1]!.replace(/^\.\//, "");
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { files: string[] };
  for (const f of pkg.files) {
    const shipped = f.replace(/^\.\//, "").replace(/\/$/, "");
    assert.ok(out !== shipped && !out.startsWith(`${shipped}/`), `README writes ${out}, inside the shipped "${f}"`);
  }
  // git check-ignore exits 0 when the path is ignored.
  execFileSync("git", ["-C", REPO_ROOT, "check-ignore", "-q", out]);
  const ci = await readFile(join(REPO_ROOT, ".ci", "run"), "utf8");
  assert.doesNotMatch(ci, /dist\/todo-api/);
});

test("SOURCE_DATE_EPOCH defaults to the last git commit's time in a git repo, else 0, and says which", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-epoch-"));
  try {
    assert.deepEqual(await defaultSourceDateEpoch(dir, {}), { epoch: 0, source: "default" });
    assert.deepEqual(await defaultSourceDateEpoch(dir, { SOURCE_DATE_EPOCH: "42" }), { epoch: 42, source: "SOURCE_DATE_EPOCH" });
    const git = (...a: string[]) =>
      execFileSync("git", ["-C", dir, ...a], {
        env: { ...process.env, GIT_AUTHOR_DATE: "1700000000 +0000", GIT_COMMITTER_DATE: "1700000000 +0000", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
      });
    git("init", "-q");
    await writeFile(join(dir, "a"), "a");
    git("add", "a");
    git("commit", "-q", "-m", "a");
    assert.deepEqual(await defaultSourceDateEpoch(dir, {}), { epoch: 1700000000, source: "git" });
    assert.equal((await defaultSourceDateEpoch(dir, { SOURCE_DATE_EPOCH: "7" })).epoch, 7);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("stripAnsi removes colour and cursor sequences from app output", () => {
  assert.equal(stripAnsi("\x1b[32mGET\x1b[0m /todos \x1b[2K\x1b[1;31m500\x1b[39m"), "GET /todos 500");
  assert.equal(stripAnsi("plain"), "plain");
});
