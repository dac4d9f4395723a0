/**
 * The build cache as a user meets it: an unchanged project reuses its compile and layers; a one-line
 * change in layered mode changes only the small app layer, so a push uploads only that.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";
import { tempDir } from "../support/tools.ts";

interface BuildJson {
  digest: string;
  platforms: { platform: string; compiledFromCache: boolean; layers: { name: string; origin: string; digest: string; compressedBytes: number }[] }[];
}

test("unchanged inputs reuse the cache; a one-line change re-makes only the app layer (layered)", { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-cache-");
  const project = join(dir, "hello");
  await cp(join(REPO_ROOT, "test/fixtures/hello-server"), project, { recursive: true });
  const build = async (): Promise<BuildJson> => {
    const r = await runCli(["build", project, "--platform", "linux/amd64,linux/arm64", "--layout", "layered", "-o", `oci:${join(dir, "out")}:v1`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as BuildJson;
  };
  const first = await build();
  const again = await build();
  assert.equal(again.digest, first.digest);
  assert.ok(again.platforms.every((p) => p.compiledFromCache), "an unchanged project is not recompiled");

  const server = join(project, "server.js");
  // A comment would not do: the minified bundle (and so the image) would not change at all.
  const source = await readFile(server, "utf8");
  assert.ok(source.includes('res.end("hello")'));
  // Unique per run: the cache is keyed by content, so a text used before would (rightly) be a cache hit.
  await writeFile(server, source.replace('res.end("hello")', `res.end("hello, ${randomUUID()}")`));
  const changed = await build();
  assert.notEqual(changed.digest, first.digest);
  for (const [i, p] of changed.platforms.entries()) {
    assert.equal(p.compiledFromCache, false);
    const before = first.platforms[i]!.layers;
    const byName = (ls: BuildJson["platforms"][number]["layers"], name: string) => ls.find((l) => l.name === name)!;
    assert.equal(byName(p.layers, "runtime").digest, byName(before, "runtime").digest, `${p.platform}: the runtime layer is unchanged`);
    assert.notEqual(byName(p.layers, "app").digest, byName(before, "app").digest, `${p.platform}: the app layer changed`);
    // What a push would upload after the change: only the app layer (plus manifests and config).
    const newBytes = p.layers.filter((l) => !before.some((b) => b.digest === l.digest)).reduce((a, l) => a + l.compressedBytes, 0);
    const total = p.layers.reduce((a, l) => a + l.compressedBytes, 0);
    assert.ok(newBytes / total < 0.01, `${p.platform}: ${newBytes} of ${total} bytes changed`);
  }
});
