import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { buildCommand } from "./commands/build.ts";
import { parseVerifyArgs } from "./verify-flags.ts";

test("an --expect-* flag after --http applies to that check only; before any --http, to every check", async () => {
  const v = await parseVerifyArgs(["oci:x", "--expect-status", "201", "--http", "GET /a", "--expect-body", "A", "--http", "POST /b 404"]);
  assert.deepEqual(v.checks, [
    { method: "GET", path: "/a", expectBody: "A", expectStatus: 201 },
    { method: "POST", path: "/b", expectStatus: 404 },
  ]);
  const d = await parseVerifyArgs(["oci:x", "--expect-body", "ok"]);
  assert.deepEqual(d.checks, [{ path: "/", expectBody: "ok" }]);
});

test("build --verify takes verify's check flags, in order, and refuses them without --verify", () => {
  const cmd = buildCommand(["app", "--verify", "--http", "GET /todos 200 array", "--expect-body", "x", "--timeout", "60", "--platform", "linux/amd64"]);
  // Typed, not an argv to re-parse: the check flags in order, and the run options.
  assert.deepEqual(cmd.verifyChecks, [{ name: "http", value: "GET /todos 200 array" }, { name: "expect-body", value: "x" }]);
  assert.deepEqual(cmd.verifyRun, { timeoutMs: 60_000 });
  assert.throws(() => buildCommand(["app", "--http", "GET /"]), (e: unknown) => e instanceof UsageError && /--http needs --verify/.test(e.message));
});

test("verify --project DIR uses the project's aotpack.verify checks; --http replaces them", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-vp-"));
  try {
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "p", aotpack: { verify: [{ path: "/health", expectStatus: 204 }] } }));
    const v = await parseVerifyArgs(["oci:x", "--project", dir]);
    assert.deepEqual(v.checks, [{ path: "/health", expectStatus: 204 }]);
    assert.match(v.checksSource, /package\.json/);
    const o = await parseVerifyArgs(["oci:x", "--project", dir, "--http", "GET /x"]);
    assert.deepEqual(o.checks, [{ method: "GET", path: "/x" }]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
