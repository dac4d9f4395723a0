import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "../../test/support/cli.ts";
import { KEYS } from "./config.ts";
import { renderConfigDocs } from "./config-docs.ts";

test("docs/config.md is generated from the config schema and up to date (npm run docs:config)", async () => {
  const committed = await readFile(join(REPO_ROOT, "docs/config.md"), "utf8").catch(() => "");
  assert.equal(committed, renderConfigDocs(), "docs/config.md is stale: run `npm run docs:config`");
  for (const key of Object.keys(KEYS)) assert.match(committed, new RegExp(`^### \`${key}\``, "m"), `${key} is documented`);
  assert.match(committed, /expectBody/);
});
