/**
 * Issue 33: a lockfile's integrity reaches the SBOM only once it is verified: the tarball npm installed,
 * found in npm's own cache by that integrity (a test cache, filled offline by `npm pack` + `npm cache add`),
 * hashes to it, and every bundled file of the package has the bytes of the tarball's entry.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { runOk, tempDir, withEnv } from "../../test/support/index.ts";
import { npmComponents } from "./npm-packages.ts";

/** A tiny package packed by npm, added to a fresh npm cache, and installed into a project (node_modules/tiny + package-lock.json). */
async function installedTiny(t: TestContext): Promise<{ project: string; npmCache: string; integrity: string }> {
  const dir = await tempDir(t, "aotpack-npm-integrity-");
  const npmCache = join(dir, "npm-cache");
  const env = { ...process.env, npm_config_cache: npmCache, npm_config_offline: "true", npm_config_update_notifier: "false" };
  const src = join(dir, "tiny");
  await mkdir(join(src, "lib"), { recursive: true });
  await writeFile(join(src, "package.json"), JSON.stringify({ name: "tiny", version: "1.0.0", license: "MIT", main: "index.js" }));
  await writeFile(join(src, "index.js"), 'module.exports = require("./lib/util.js");\n');
  await writeFile(join(src, "lib/util.js"), "module.exports = 42;\n");
  const packed = JSON.parse((await runOk("npm", ["pack", "--json", "--pack-destination", dir], { cwd: src, env })).stdout) as { filename: string; integrity: string }[];
  const tgz = join(dir, packed[0]!.filename);
  await runOk("npm", ["cache", "add", tgz], { cwd: dir, env });
  const project = join(dir, "proj");
  await mkdir(join(project, "node_modules/tiny"), { recursive: true });
  await runOk("tar", ["-xzf", tgz, "-C", join(project, "node_modules/tiny"), "--strip-components=1"]);
  const integrity = packed[0]!.integrity;
  await writeFile(
    join(project, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: { "node_modules/tiny": { version: "1.0.0", resolved: "https://registry.npmjs.org/tiny/-/tiny-1.0.0.tgz", integrity, license: "MIT" } } }),
  );
  return { project, npmCache, integrity };
}

const BUNDLED = ["src/index.ts", "node_modules/tiny/index.js", "node_modules/tiny/lib/util.js"];

test("issue 33: an intact package (its tarball in npm's cache, the bundled bytes its own) keeps its integrity, with no warning", async (t) => {
  const { project, npmCache, integrity } = await installedTiny(t);
  withEnv(t, { npm_config_cache: npmCache });
  const warnings: string[] = [];
  assert.deepEqual(await npmComponents(project, BUNDLED, { warn: (m) => warnings.push(m) }), [{ name: "tiny", version: "1.0.0", license: "MIT", integrity }]);
  assert.deepEqual(warnings, []);
});

test("issue 33: a node_modules file edited after install: the SBOM leaves the integrity out and a warning names the package and the file", async (t) => {
  const { project, npmCache } = await installedTiny(t);
  withEnv(t, { npm_config_cache: npmCache });
  await writeFile(join(project, "node_modules/tiny/lib/util.js"), "module.exports = 'pwned';\n");
  const warnings: string[] = [];
  assert.deepEqual(await npmComponents(project, BUNDLED, { warn: (m) => warnings.push(m) }), [{ name: "tiny", version: "1.0.0", license: "MIT" }]);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /tiny@1\.0\.0.*lib\/util\.js/);
  assert.match(warnings[0]!, /node_modules was changed/);
});

test("issue 33: a package whose tarball is not in npm's cache: the integrity is left out and one summary warning says why", async (t) => {
  const { project } = await installedTiny(t);
  withEnv(t, { npm_config_cache: join(project, "no-such-npm-cache") });
  const warnings: string[] = [];
  assert.deepEqual(await npmComponents(project, BUNDLED, { warn: (m) => warnings.push(m) }), [{ name: "tiny", version: "1.0.0", license: "MIT" }]);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0]!, /1 npm package.*tiny@1\.0\.0.*not in npm's cache/);
});
