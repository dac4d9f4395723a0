/**
 * The harness's own parts: the emulated-Dockerfile rewrite (checked against the real renderer
 * and the real linter), wrk parsing against the real wrk, VmRSS parsing, push byte counting,
 * and the one-line change. The full harness is exercised by `npm run bench -- --quick` in CI.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lintDockerfile } from "../src/dockerfile/lint.ts";
import { renderDockerfile } from "../src/dockerfile/render.ts";
import { parsePlatformList } from "../src/oci/platform.ts";
import { requireTool } from "../test/support/index.ts";
import { applyOneLineChange, copyProject, EDIT_FILE, REPO } from "./aotpack-cli.ts";
import { emulatedDockerfile } from "./buildah.ts";
import { uploadedBytes } from "./registry-bench.ts";
import { parseVmRss, parseWrk, rssOf, wrk } from "./runtime.ts";

const plan = (layout: "single-file" | "layered") =>
  renderDockerfile({
    appName: "todo-api",
    entry: "src/server.ts",
    platforms: parsePlatformList("linux/amd64,linux/arm64"),
    runtime: "bun",
    layout,
    port: 8080,
    user: "65532:65532",
    env: {},
    bunVersion: "1.4.5",
    minify: true,
  }).dockerfile;

for (const layout of ["single-file", "layered"] as const) {
  test(`emulatedDockerfile (${layout}): only the build stage loses --platform=$BUILDPLATFORM, and the linter now flags it`, () => {
    const original = plan(layout);
    const emulated = emulatedDockerfile(original);
    assert.doesNotMatch(emulated, /\$BUILDPLATFORM\s+\$\{BUILDER_IMAGE\}\s+AS build/);
    assert.match(emulated, /^FROM \$\{BUILDER_IMAGE\} AS build$/m);
    // Everything else is untouched: the target-platform stages keep their --platform.
    const diff = original.split("\n").filter((line, i) => line !== emulated.split("\n")[i]);
    assert.equal(diff.length, 1, `changed lines: ${diff.join(" | ")}`);
    assert.ok(!lintDockerfile(original, { file: "Dockerfile" }).some((f) => f.rule === "AOT001"));
    // Single-file compiles in the build stage, so the rewrite is exactly the pitfall AOT001 describes
    // (layered only bundles there, which the linter does not count as a compile).
    if (layout === "single-file") assert.ok(lintDockerfile(emulated, { file: "Dockerfile" }).some((f) => f.rule === "AOT001"));
  });
}

test("emulatedDockerfile refuses a Dockerfile without exactly one cross-compiling build stage", () => {
  assert.throws(() => emulatedDockerfile("FROM scratch\n"), /found 0/);
  const twice = "FROM --platform=$BUILDPLATFORM a AS build\nFROM --platform=$BUILDPLATFORM b AS build\n";
  assert.throws(() => emulatedDockerfile(twice), /found 2/);
});

test("parseWrk reads req/s, p99 in any unit, and errors", () => {
  const out = `Running 1s test @ http://127.0.0.1:1/todos
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  200.00us   5.00ms   90.00%
  Latency Distribution
     50%  790.00us
     75%    0.90ms
     90%    1.10ms
     99%  950.00us
  31370 requests in 1.00s, 9.51MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  31370.12
Transfer/sec:      9.51MB
`;
  const r = parseWrk(out);
  assert.equal(r.requestsPerSecond, 31370.12);
  assert.equal(r.p99Ms, 0.95);
  assert.equal(r.requests, 31370);
  assert.equal(r.errors, 7);
  assert.equal(parseWrk(out.replace("950.00us", "1.50s")).p99Ms, 1500);
  assert.throws(() => parseWrk("wrk: connection refused"), /cannot parse/);
});

test("parseVmRss and rssOf read /proc", async () => {
  assert.equal(parseVmRss("Name:\tnode\nVmRSS:\t  1234 kB\n"), 1234 * 1024);
  assert.equal(parseVmRss("Name:\tzombie\n"), undefined);
  const own = await rssOf(process.pid);
  assert.ok(own !== undefined && own > 1024 * 1024, `own RSS ${own}`);
});

test("uploadedBytes counts each uploaded blob once and leaves out skipped ones", () => {
  const a = "sha256:aa" as const;
  const b = "sha256:bb" as const;
  const n = uploadedBytes([
    { kind: "blob", digest: a as `sha256:${string}`, done: 10, total: 100 },
    { kind: "blob", digest: a as `sha256:${string}`, done: 100, total: 100 },
    { kind: "blob", digest: b as `sha256:${string}`, done: 50, total: 50, skipped: true },
    { kind: "manifest", digest: b as `sha256:${string}` },
  ]);
  assert.equal(n, 100);
});

test("applyOneLineChange edits exactly one line of a copy, differently each time", () => {
  const dir = mkdtempSync(join(tmpdir(), "aotpack-bench-edit-"));
  try {
    const copy = join(dir, "p");
    copyProject(join(REPO, "examples", "todo-api"), copy);
    const original = readFileSync(join(copy, EDIT_FILE), "utf8").split("\n");
    applyOneLineChange(copy, 1);
    const once = readFileSync(join(copy, EDIT_FILE), "utf8").split("\n");
    assert.equal(once.length, original.length);
    assert.equal(once.filter((l, i) => l !== original[i]).length, 1);
    applyOneLineChange(copy, 2);
    const twice = readFileSync(join(copy, EDIT_FILE), "utf8");
    assert.match(twice, /Walk the dog \(edit 2\)/);
    assert.doesNotMatch(twice, /edit 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wrk against a real server: requests counted, errors reported", { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, "wrk")) return;
  let status = 200;
  const server = createServer((_req, res) => {
    res.statusCode = status;
    res.end("[]");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  try {
    const port = (server.address() as { port: number }).port;
    const ok = await wrk(`http://127.0.0.1:${port}/`, 1);
    assert.ok(ok.requests > 0 && ok.requestsPerSecond > 0);
    assert.equal(ok.errors, 0);
    status = 500;
    const bad = await wrk(`http://127.0.0.1:${port}/`, 1);
    assert.ok(bad.errors > 0, "non-2xx answers must count as errors");
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
