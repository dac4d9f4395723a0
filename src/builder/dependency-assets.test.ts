/** Issue 27: files a dependency reads relative to its own code (json-server's views) are named, with the glob that ships them. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { suiteTempDir } from "../../test/support/index.ts";
import { dependencyAssetWarnings } from "./dependency-assets.ts";
import { matchProjectFiles } from "./files.ts";

const temp = suiteTempDir("aotpack-dep-assets-");

test("a bundled package's views/ and public/ are named, with the files glob that ships them; shipped or unbundled packages are not", async () => {
  const dir = temp();
  const files = ["node_modules/json-like/package.json", "node_modules/json-like/lib/index.js", "node_modules/json-like/views/index.html", "node_modules/json-like/public/style.css", "node_modules/json-like/README.md", "node_modules/other/index.js", "node_modules/other/views/x.html", "server.js"];
  for (const f of files) {
    await mkdir(dirname(join(dir, f)), { recursive: true });
    await writeFile(join(dir, f), "x");
  }
  const bundled = ["node_modules/json-like/lib/index.js", "server.js"];
  const warnings = await dependencyAssetWarnings(dir, bundled, []);
  assert.deepEqual(warnings, ['json-like has 2 files that are not in the bundle (public, views): if it reads them at run time, add "files": ["node_modules/json-like/public/**", "node_modules/json-like/views/**"]']);
  // Following the advice silences it: the glob reaches into node_modules.
  const shipped = await matchProjectFiles(dir, ["node_modules/json-like/public/**", "node_modules/json-like/views/**"]);
  assert.deepEqual(shipped.files, ["node_modules/json-like/public/style.css", "node_modules/json-like/views/index.html"]);
  assert.deepEqual(await dependencyAssetWarnings(dir, bundled, shipped.files), []);
});
