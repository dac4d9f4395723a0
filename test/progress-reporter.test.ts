import { test } from "node:test";
import assert from "node:assert/strict";
// @ts-expect-error: a plain .mjs script without types
import progressReporter from "../scripts/progress-reporter.mjs";

test("the progress reporter prints each top-level test's start and finish with its time, nothing nested", async () => {
  async function* events() {
    yield { type: "test:start", data: { nesting: 0, name: "build both", file: `${process.cwd()}/test/e2e/a.test.ts` } };
    yield { type: "test:start", data: { nesting: 1, name: "inner" } };
    yield { type: "test:pass", data: { nesting: 1, name: "inner", details: { duration_ms: 5 } } };
    yield { type: "test:pass", data: { nesting: 0, name: "build both", file: `${process.cwd()}/test/e2e/a.test.ts`, details: { duration_ms: 61234 } } };
    yield { type: "test:fail", data: { nesting: 0, name: "broken", details: { duration_ms: 100 } } };
  }
  const lines: string[] = [];
  for await (const l of (progressReporter as (s: AsyncIterable<unknown>) => AsyncIterable<string>)(events())) lines.push(l);
  assert.deepEqual(lines, ["▶ build both [test/e2e/a.test.ts]\n", "✓ build both (61.2 s) [test/e2e/a.test.ts]\n", "✗ broken (0.1 s)\n"]);
});
