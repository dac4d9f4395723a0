/**
 * Issue 27, section 6: in layered mode the dependencies are a layer of their own, so a one-line
 * edit of the app's code uploads a few KiB, not the whole bundled dependency tree (Koa: 312 KiB).
 * A real Bun build and a real run of the image (verify, amd64).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { tempDir } from "../support/tools.ts";

interface BuildJson {
  digest: string;
  platforms: { layers: { name: string; digest: string; compressedBytes: number }[] }[];
  verify?: { ok: boolean };
}

test("layered: a one-line app edit changes only the app layer, of a few KiB; the dependencies' layer is reused", { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-layered-deps-");
  const app = join(dir, "app");
  const dep = join(app, "node_modules", "bigdep");
  await mkdir(dep, { recursive: true });
  const run = randomUUID();
  // ~200 KiB of distinct functions that the minifier cannot fold away: a stand-in for a framework.
  const fns = Array.from({ length: 3000 }, (_, i) => `exports.f${i} = (x) => x * ${i} + "${run.slice(0, 8)}-${i}";`).join("\n");
  await writeFile(join(dep, "package.json"), JSON.stringify({ name: "bigdep", version: "1.0.0", main: "index.js" }));
  await writeFile(join(dep, "index.js"), `${fns}\nexports.greet = () => "hello from bigdep";\n`);
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "layered-app", version: "1.0.0", description: run, main: "server.js" }));
  const server = join(app, "server.js");
  await writeFile(
    server,
    [
      `const http = require("node:http");`,
      `const dep = require("bigdep");`,
      `const keep = Object.keys(dep).length;`,
      `const srv = http.createServer((req, res) => res.end(dep.greet() + " v1 " + keep)).listen(Number(process.env.PORT ?? 8080));`,
      `process.on("SIGTERM", () => srv.close(() => process.exit(0)));`,
      ``,
    ].join("\n"),
  );
  const build = async (): Promise<BuildJson> => {
    const r = await runCli(["build", app, "--platform", "linux/amd64", "--layout", "layered", "-o", `oci:${join(dir, "out")}:v1`, "--verify", "--http", "GET / 200", "--json"]);
    assert.equal(r.code, 0, r.stderr.split("\n").slice(-20).join("\n"));
    const j = JSON.parse(r.stdout) as BuildJson;
    assert.ok(j.verify?.ok, JSON.stringify(j.verify));
    return j;
  };
  const first = await build();
  await writeFile(server, (await readFile(server, "utf8")).replace('" v1 "', `" v2 ${randomUUID()} "`));
  const second = await build();
  assert.notEqual(second.digest, first.digest);
  const before = new Set(first.platforms[0]!.layers.map((l) => l.digest));
  const changed = second.platforms[0]!.layers.filter((l) => !before.has(l.digest));
  assert.deepEqual(changed.map((l) => l.name), ["app"], "only the app layer changed");
  assert.ok(changed[0]!.compressedBytes < 8 * 1024, `the app layer is ${changed[0]!.compressedBytes} bytes compressed: it still holds the dependencies`);
});
