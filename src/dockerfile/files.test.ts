import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AotpackError } from "../errors.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { fixDockerfileFile, lintDockerfileFile, readDotnetProjectFacts, writeRenderedDockerfile } from "./files.ts";
import { renderDockerfile } from "./render.ts";

const testdata = fileURLToPath(new URL("./testdata/", import.meta.url));

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "aotpack-df-files-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("writeRenderedDockerfile writes both files and refuses to overwrite unless asked", async (t) => {
  const dir = tempDir(t);
  const rendered = renderDockerfile({
    appName: "app",
    entry: "index.ts",
    platforms: parsePlatformList("linux/amd64,linux/arm64"),
    runtime: "bun",
    layout: "single-file",
    port: 3000,
    user: "65532:65532",
    env: {},
    bunVersion: "1.4.5",
    minify: false,
  });
  const written = await writeRenderedDockerfile(dir, rendered);
  assert.deepEqual(written, [join(dir, "Dockerfile"), join(dir, ".dockerignore")]);
  assert.equal(readFileSync(join(dir, "Dockerfile"), "utf8"), rendered.dockerfile);
  assert.equal(readFileSync(join(dir, ".dockerignore"), "utf8"), rendered.dockerignore);
  writeFileSync(join(dir, "Dockerfile"), "FROM scratch\n");
  await assert.rejects(writeRenderedDockerfile(dir, rendered), (err: unknown) => err instanceof AotpackError && /already exists/.test(err.message) && /--force/.test(err.hint ?? ""));
  assert.equal(readFileSync(join(dir, "Dockerfile"), "utf8"), "FROM scratch\n");
  await writeRenderedDockerfile(dir, rendered, { overwrite: true });
  assert.equal(readFileSync(join(dir, "Dockerfile"), "utf8"), rendered.dockerfile);
  assert.deepEqual(readdirSync(dir).sort(), [".dockerignore", "Dockerfile"]); // no temp files left
});

test("readDotnetProjectFacts reads PublishAot and InvariantGlobalization from the csproj", async (t) => {
  const dir = tempDir(t);
  assert.deepEqual(await readDotnetProjectFacts(dir), {});
  assert.deepEqual(await readDotnetProjectFacts(join(dir, "missing")), {});
  copyFileSync(join(testdata, "test.csproj"), join(dir, "test.csproj"));
  assert.deepEqual(await readDotnetProjectFacts(dir), { nativeAot: true, invariantGlobalization: true });
  writeFileSync(join(dir, "test.csproj"), "<Project><PropertyGroup><PublishAot>false</PublishAot></PropertyGroup></Project>");
  assert.deepEqual(await readDotnetProjectFacts(dir), {});
});

test("lint --fix on the post's project: csproj facts pick -noble-chiseled, file rewritten in place", async (t) => {
  const dir = tempDir(t);
  const dockerfile = join(dir, "Dockerfile");
  copyFileSync(join(testdata, "vs-generated.Dockerfile"), dockerfile);
  copyFileSync(join(testdata, "test.csproj"), join(dir, "test.csproj"));

  const before = await lintDockerfileFile(dockerfile);
  assert.ok(before.every((f) => f.file === dockerfile));
  const base = before.find((f) => f.rule === "AOT005");
  assert.ok(base);
  assert.match(base.fix, /runtime-deps:10\.0-noble-chiseled$/); // InvariantGlobalization: no ICU needed

  const result = await fixDockerfileFile(dockerfile);
  assert.equal(result.changed, true);
  assert.deepEqual(result.remaining, []);
  const text = readFileSync(dockerfile, "utf8");
  assert.equal(text, result.text);
  assert.match(text, /runtime-deps:10\.0-noble-chiseled\} AS final/);
  assert.deepEqual(readdirSync(dir).sort(), ["Dockerfile", "test.csproj"]);

  const again = await fixDockerfileFile(dockerfile);
  assert.equal(again.changed, false);
  assert.deepEqual(again.applied, []);
});

test("a missing Dockerfile is one clear error", async () => {
  await assert.rejects(lintDockerfileFile("/nonexistent/Dockerfile"), (err: unknown) => err instanceof AotpackError && err.message === "no such file or directory reading /nonexistent/Dockerfile");
});
