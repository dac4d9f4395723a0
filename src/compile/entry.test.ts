import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError, UsageError } from "../errors.ts";
import { resolveEntry, resolveEntryWithSource } from "./entry.ts";

describe("resolveEntry", () => {
  let root: string;
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "aotpack-entry-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function project(pkg: unknown, files: string[] = []): Promise<string> {
    const dir = join(root, `p${n++}`);
    await mkdir(dir, { recursive: true });
    if (pkg !== undefined) await writeFile(join(dir, "package.json"), typeof pkg === "string" ? pkg : JSON.stringify(pkg));
    for (const f of files) {
      await mkdir(join(dir, f, ".."), { recursive: true });
      await writeFile(join(dir, f), "export {};\n");
    }
    return dir;
  }

  const cases: Array<[string, unknown, string, string]> = [
    ["aotpack.entry wins over everything", { aotpack: { entry: "src/server.ts" }, bin: "bin.js", main: "main.js" }, "src/server.ts", "aotpack.entry"],
    ["bin as a string", { bin: "./cli.js", main: "main.js" }, "cli.js", "bin"],
    ["bin as a map: the first value", { bin: { one: "a.js", two: "b.js" } }, "a.js", "bin"],
    ["main", { main: "lib/index.js", exports: "./x.js" }, "lib/index.js", "main"],
    ["exports as a string", { exports: "./x.js" }, "x.js", "exports"],
    ["exports[\".\"] as a string", { exports: { ".": "./dot.js", "./sub": "./sub.js" } }, "dot.js", "exports"],
    ["exports[\".\"].import over require", { exports: { ".": { types: "./t.d.ts", require: "./r.cjs", import: "./i.js" } } }, "i.js", "exports"],
    ["exports[\".\"].default", { exports: { ".": { default: "./d.js" } } }, "d.js", "exports"],
    ["nested conditions", { exports: { ".": { import: { types: "./t.d.ts", default: "./n.js" } } } }, "n.js", "exports"],
    ["bare conditions at the top", { exports: { import: "./top.js" } }, "top.js", "exports"],
    ["module (what bun init writes)", { name: "b", module: "index.ts", type: "module" }, "index.ts", "module"],
    ["scripts.start: node server.js", { scripts: { start: "node server.js" } }, "server.js", "scripts.start"],
    ["scripts.start: bun run src/index.ts", { scripts: { start: "bun run src/index.ts" } }, "src/index.ts", "scripts.start"],
    ["scripts.start: flags and their values are skipped", { scripts: { start: "NODE_ENV=production node --import tsx ./src/server.ts --port 3000" } }, "src/server.ts", "scripts.start"],
    ["npm init's main: index.js that does not exist, scripts.start names the server", { main: "index.js", scripts: { start: "node server.js" } }, "server.js", "scripts.start"],
    ["src/index.ts by convention", { name: "x" }, "src/index.ts", "src/index.ts"],
  ];
  for (const [name, pkg, file, source] of cases) {
    test(name, async () => {
      const dir = await project(pkg, [file]);
      assert.deepEqual(await resolveEntryWithSource(dir), { path: join(dir, file), source });
    });
  }

  test("an explicit --entry wins over package.json", async () => {
    const dir = await project({ main: "main.js" }, ["main.js", "other.ts"]);
    assert.equal(await resolveEntry(dir, "other.ts"), join(dir, "other.ts"));
  });

  test("no entry anywhere → UsageError (exit 2) that says how to set one", async () => {
    for (const pkg of [{ name: "x" }, { exports: { "./sub": "./s.js" } }, undefined]) {
      const dir = await project(pkg);
      await assert.rejects(resolveEntry(dir), (err: unknown) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.equal(err.exitCode, 2);
        assert.match(err.message, /"aotpack": \{"entry": "src\/server\.ts"\}/);
        assert.match(err.message, /--entry/);
        return true;
      });
    }
  });

  test("a declared entry that does not exist → AotpackError naming it and its source", async () => {
    const dir = await project({ main: "dist/server.js" });
    await assert.rejects(resolveEntry(dir), (err: unknown) => {
      assert.ok(err instanceof AotpackError && !(err instanceof UsageError), String(err));
      assert.match(err.message, /^entry dist\/server\.js \(from main\) does not exist in /);
      return true;
    });
    await assert.rejects(resolveEntry(dir, "nope.ts"), /entry nope\.ts \(from --entry\) does not exist/);
  });

  test("a directory is not an entry; bad JSON and a bad aotpack.entry are usage errors", async () => {
    const dir = await project({ main: "src" }, ["src/index.js"]);
    await assert.rejects(resolveEntry(dir), /entry src \(from main\) does not exist/);
    await assert.rejects(resolveEntry(await project("{not json")), UsageError);
    await assert.rejects(resolveEntry(await project({ aotpack: { entry: 42 } })), /"aotpack.entry" must be a file path string/);
  });
});
