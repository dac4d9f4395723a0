/**
 * Issue 33, point 1: the compile key is what the bundler read. An edit under `dist/`, in
 * `node_modules` or in a file outside the project (a monorepo import) must recompile, with Bun and
 * with Node SEA; an unchanged project must still be a cache hit, and the SBOM lists the files from
 * outside the project. Real compiles (layered, one platform: the key is the same logic
 * for every layout and platform, and this keeps each build to about a second).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { cp, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { tempDir } from "../support/tools.ts";

interface BuildJson {
  digest: string;
  platforms: { platform: string; compiledFromCache: boolean }[];
}

/** A monorepo: `app/` whose entry is `dist/server.js`, a dependency in `app/node_modules`, and `shared/` outside the app. */
async function monorepo(root: string): Promise<{ app: string; shared: string; dep: string; entry: string }> {
  const app = join(root, "repo", "app");
  const shared = join(root, "repo", "shared", "lib.js");
  const depDir = join(app, "node_modules", "dep");
  await mkdir(join(app, "dist"), { recursive: true });
  await mkdir(join(root, "repo", "shared"), { recursive: true });
  await mkdir(depDir, { recursive: true });
  await writeFile(join(root, "repo", ".git"), "gitdir: /nonexistent\n"); // marks the repository root, as a worktree's .git file does
  // Unique per run: the cache is keyed by content, and an earlier run's entry would (rightly) be a hit.
  const run = randomUUID();
  await writeFile(shared, `export const shared = "shared ${run}";\n`);
  await writeFile(join(depDir, "package.json"), JSON.stringify({ name: "dep", version: "1.0.0", main: "index.js" }));
  await writeFile(join(depDir, "index.js"), `module.exports = "dep ${run}";\n`);
  await writeFile(join(depDir, "other.js"), `module.exports = "other ${run}";\n`);
  const entry = join(app, "dist", "server.js");
  await writeFile(
    entry,
    [
      `import { createServer } from "node:http";`,
      `import { shared } from "../../shared/lib.js";`,
      `import dep from "dep";`,
      `const body = "server ${run} " + shared + " " + dep;`,
      `const server = createServer((req, res) => res.end(body)).listen(Number(process.env.PORT ?? 8080));`,
      `process.on("SIGTERM", () => server.close(() => process.exit(0)));`,
      ``,
    ].join("\n"),
  );
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", description: `run ${run}`, type: "module", main: "dist/server.js" }));
  return { app, shared, dep: depDir, entry };
}

for (const runtime of ["bun", "node"] as const) {
  test(`${runtime}: an edit in dist/, in node_modules or outside the project recompiles; nothing else does`, { timeout: 600_000 }, async (t) => {
    const dir = await tempDir(t, "aotpack-compile-key-");
    const { app, shared, dep, entry } = await monorepo(dir);
    const build = async (what: string): Promise<BuildJson> => {
      const r = await runCli(["build", app, "--runtime", runtime, "--platform", "linux/amd64", "--layout", "layered", "-o", `oci:${join(dir, "out")}:v1`, "--json"]);
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      return JSON.parse(r.stdout) as BuildJson;
    };
    const cached = (b: BuildJson): boolean => b.platforms.every((p) => p.compiledFromCache);

    const first = await build("first build");
    assert.equal(cached(first), false, "the first build compiles");
    const again = await build("unchanged");
    assert.ok(cached(again), "an unchanged project is a cache hit");
    assert.equal(again.digest, first.digest);

    const digests = new Set([first.digest]);
    // Every case is tried and the failures reported together, so one run shows each one that fails.
    const failures: string[] = [];
    const expectRecompile = async (what: string, edit: () => Promise<void>): Promise<void> => {
      await edit();
      const b = await build(what);
      if (cached(b)) failures.push(`${what}: "compile cached", must recompile`);
      if (digests.has(b.digest)) failures.push(`${what}: the image did not change`);
      digests.add(b.digest);
      if (!cached(await build(`${what}, again`))) failures.push(`${what}: the rebuild after it is not a hit`);
    };
    const append = (file: string, text: string) => async () => writeFile(file, (await readFile(file, "utf8")) + text);
    await expectRecompile("an edit of dist/server.js (the entry)", append(entry, `console.log("edited ${randomUUID()}");\n`));
    await expectRecompile("an edit of node_modules/dep/index.js", async () => writeFile(join(dep, "index.js"), `module.exports = "patched ${randomUUID()}";\n`));
    await expectRecompile("node_modules/dep/package.json pointing main elsewhere", async () => {
      const pkg = JSON.parse(await readFile(join(dep, "package.json"), "utf8")) as Record<string, unknown>;
      await writeFile(join(dep, "package.json"), JSON.stringify({ ...pkg, main: "other.js" }));
    });
    await expectRecompile("an edit of ../shared/lib.js (outside the project)", async () => writeFile(shared, `export const shared = "edited ${randomUUID()}";\n`));

    assert.deepEqual(failures, []);

    // The SBOM names the file from outside the project, relative to the repository root, with its hash.
    const sbom = await runCli(["sbom", `oci:${join(dir, "out")}:v1`, "--platform", "linux/amd64"]);
    assert.equal(sbom.code, 0, sbom.stderr);
    const doc = JSON.parse(sbom.stdout) as { files?: { fileName: string; checksums: { algorithm: string; checksumValue: string }[] }[] };
    const file = doc.files?.find((f) => f.fileName === "./shared/lib.js");
    assert.ok(file, `the SBOM lists ./shared/lib.js: ${JSON.stringify(doc.files)}`);
    assert.ok(file.checksums.some((c) => c.algorithm === "SHA256"));

    // The key names files relative to the repository root: the same repository in another folder is a hit.
    const moved = join(dir, "elsewhere");
    await cp(join(dir, "repo"), moved, { recursive: true, verbatimSymlinks: true });
    const r = await runCli(["build", join(moved, "app"), "--runtime", runtime, "--platform", "linux/amd64", "--layout", "layered", "-o", `oci:${join(dir, "out2")}:v1`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(cached(JSON.parse(r.stdout) as BuildJson), "the same sources in another checkout folder reuse the compile");
    // …and a file the bundler read that is gone is a miss, not a crash.
    await rename(join(moved, "shared", "lib.js"), join(moved, "shared", "lib.js.bak"));
    const gone = await runCli(["build", join(moved, "app"), "--runtime", runtime, "--platform", "linux/amd64", "--layout", "layered", "-o", `oci:${join(dir, "out2")}:v1`, "--json"]);
    assert.equal(gone.code, 1, "the import of a missing file fails the compile");
    assert.match(gone.stderr, /shared\/lib\.js/);
  });
}
