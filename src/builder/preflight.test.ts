import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { checkBaseCanRun, checkNoNativeAddons } from "./preflight.ts";

test("--base scratch under a dynamically linked executable fails naming the interpreter", () => {
  const elf = { machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6"] } as never;
  assert.throws(() => checkBaseCanRun("scratch", elf, "linux/amd64"), (e: unknown) => {
    assert.ok(e instanceof AotpackError && e.exitCode === 1);
    assert.match(e.message, /--base scratch cannot start .*dynamically linked.*\/lib64\/ld-linux-x86-64\.so\.2/);
    assert.match(e.hint ?? "", /deb:bookworm/);
    return true;
  });
  checkBaseCanRun("scratch", { machine: "x86_64", needed: [] } as never, "linux/amd64");
  checkBaseCanRun("deb", elf, "linux/amd64");
});

test("a dependency with a native addon (.node / binding.gyp) fails the build with the cause and the fix", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-addon-"));
  try {
    await writeFile(join(dir, "package.json"), JSON.stringify({ dependencies: { "better-sqlite3": "^12", "pure-js": "1" } }));
    await mkdir(join(dir, "node_modules", "better-sqlite3", "build", "Release"), { recursive: true });
    await writeFile(join(dir, "node_modules", "better-sqlite3", "package.json"), "{}");
    await writeFile(join(dir, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node"), "\x7fELF");
    await mkdir(join(dir, "node_modules", "pure-js"), { recursive: true });
    await writeFile(join(dir, "node_modules", "pure-js", "package.json"), "{}");
    await assert.rejects(checkNoNativeAddons(dir), (e: unknown) => {
      assert.ok(e instanceof AotpackError);
      assert.match(e.message, /better-sqlite3 .*native addon.*better_sqlite3\.node/);
      assert.match(e.hint ?? "", /bun:sqlite|node:sqlite/);
      return true;
    });
    await rm(join(dir, "node_modules", "better-sqlite3"), { recursive: true });
    await checkNoNativeAddons(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("asset folders the code may serve but the image would not ship are named (public/, static/, views/…)", async () => {
  const { unshippedAssetDirs } = await import("./preflight.ts");
  const dir = await mkdtemp(join(tmpdir(), "aotpack-assets-"));
  try {
    await mkdir(join(dir, "public"), { recursive: true });
    await writeFile(join(dir, "public", "index.html"), "<p>hi</p>");
    await mkdir(join(dir, "src"), { recursive: true });
    assert.deepEqual(await unshippedAssetDirs(dir, []), ["public"]);
    assert.deepEqual(await unshippedAssetDirs(dir, ["public/index.html"]), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
