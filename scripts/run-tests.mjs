#!/usr/bin/env node
// Node 20's `--test` takes no glob patterns, so we find the test files ourselves
// and hand them to node's own runner (its closing summary is what CI reads).
// Usage: node scripts/run-tests.mjs [dir-or-file ...]   (default: src examples test bench)
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const roots = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith("--"));
const skip = new Set(["node_modules", "dist", ".git", ".aotpack-cache"]);

function collect(path, out) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isFile()) {
    if (path.endsWith(".test.ts")) out.push(path);
    return;
  }
  for (const name of readdirSync(path).sort()) {
    if (skip.has(name)) continue;
    collect(join(path, name), out);
  }
}

const files = [];
for (const root of roots.length ? roots : ["src", "examples", "test", "bench"]) collect(root, files);
if (files.length === 0) {
  console.error("run-tests: no *.test.ts files found");
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    "--import", "tsx", "--test", "--test-concurrency=1",
    // TAP on stdout (its closing summary is what CI reads) and a line per test start/finish on stderr.
    "--test-reporter=tap", "--test-reporter-destination=stdout",
    `--test-reporter=${new URL("./progress-reporter.mjs", import.meta.url).href}`, "--test-reporter-destination=stderr",
    ...passthrough, ...files,
  ],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
