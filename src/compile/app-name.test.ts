import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { executableName as compileAppName } from "./common.ts";
import { appNameFor as buildAppName, loadProject } from "../builder/config.ts";

test("the compiler and the build derive the same app name from a package name", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-appname-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const name of ["@team/My App", "Todo_API", ".hidden-api", "@x/---"]) {
    await writeFile(join(dir, "package.json"), JSON.stringify({ name }));
    // The build passes the project folder's name as the fallback, as the compiler uses it.
    const fromBuild = buildAppName(await loadProject(dir), basename(dir));
    assert.equal(await compileAppName(dir), fromBuild, name);
    assert.match(fromBuild, /^[a-z0-9][a-z0-9._-]*$/, "a valid lowercase name");
  }
});
