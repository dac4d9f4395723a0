/** A real Bun compile of a project that imports one of two installed packages: the SBOM names only the one bundled. */
import assert from "node:assert/strict";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { bunCompiler } from "../compile/bun.ts";
import { REPO_ROOT } from "../../test/support/cli.ts";
import { tempDir } from "../../test/support/tools.ts";
import { npmComponents } from "./npm-packages.ts";

test("Bun's metafile inputs → hono from package-lock.json, not the unused @hono/node-server", { timeout: 300_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-bundled-");
  const project = join(dir, "proj");
  await mkdir(join(project, "src"), { recursive: true });
  for (const pkg of ["hono", "@hono/node-server"]) await cp(join(REPO_ROOT, "node_modules", pkg), join(project, "node_modules", pkg), { recursive: true });
  const lock = JSON.parse(await readFile(join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, unknown> };
  await writeFile(
    join(project, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "node_modules/hono": lock.packages["node_modules/hono"], "node_modules/@hono/node-server": lock.packages["node_modules/@hono/node-server"] } }),
  );
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "hello", version: "1.0.0", dependencies: { hono: "*", "@hono/node-server": "*" } }));
  await writeFile(join(project, "src/index.ts"), 'import { Hono } from "hono";\nconst app = new Hono();\napp.get("/", (c) => c.text("hi"));\nexport default app;\n');
  const artifact = await bunCompiler().compile({ projectDir: project, entry: "src/index.ts", platform: { os: "linux", architecture: "amd64" }, layout: "single-file", outDir: join(dir, "out") });
  assert.ok(artifact.inputs?.bundled?.includes("src/index.ts"));
  assert.ok(artifact.inputs?.bundled?.some((p) => p.startsWith("node_modules/hono/")));
  assert.equal(artifact.inputs?.runtime?.pkg, "@oven/bun-linux-x64");
  assert.match(artifact.inputs?.runtime?.sha256 ?? "", /^[0-9a-f]{64}$/);
  const npm = await npmComponents(project, artifact.inputs?.bundled ?? []);
  assert.deepEqual(npm.map((p) => [p.name, p.license]), [["hono", "MIT"]]);
  assert.match(npm[0]!.integrity ?? "", /^sha512-/);
});
