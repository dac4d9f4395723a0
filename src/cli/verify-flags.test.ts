import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { buildCommand } from "./commands/build.ts";
import { parseVerifyArgs, resourceFlags, sandboxOptions, verifyRunOptions } from "./verify-flags.ts";

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

test("--memory, --pids-limit and --cpus take docker run's units; 0 turns a limit off; the rest is a usage error", () => {
  assert.deepEqual(resourceFlags({ memory: "512m", "pids-limit": "64", cpus: "1.5" }), { memoryBytes: 512 * 1024 ** 2, pids: 64, cpus: 1.5 });
  assert.deepEqual(resourceFlags({ memory: "1GiB" }), { memoryBytes: 1024 ** 3 });
  assert.deepEqual(resourceFlags({ memory: "0", "pids-limit": "-1", cpus: "0" }), { memoryBytes: 0, pids: 0, cpus: 0 });
  assert.equal(resourceFlags({}), undefined);
  for (const bad of [{ memory: "lots" }, { memory: "1k" }, { "pids-limit": "many" }, { "pids-limit": "1.5" }, { cpus: "-1" }, { cpus: "two" }]) {
    assert.throws(() => resourceFlags(bad), UsageError, JSON.stringify(bad));
  }
});

test("--read-only asks run, verify and build --verify for a read-only root; without it the root is writable, as docker run's", () => {
  assert.deepEqual(sandboxOptions({ "read-only": true }), { readOnly: true });
  assert.deepEqual(sandboxOptions({}), {});
  assert.deepEqual(verifyRunOptions({ "read-only": true }), { readOnly: true });
  assert.deepEqual(buildCommand(["app", "--verify", "--read-only"]).verifyRun, { readOnly: true });
});

test("--http-body and --http-header refine the --http before them (a POST with a JSON body); before any --http, every check", async () => {
  const v = await parseVerifyArgs([
    "oci:x",
    "--http-header", "X-Trace: 1",
    "--http", "POST /todos 201 object", "--http-body", '{"title":"x"}', "--http-header", "Authorization: Bearer t",
    "--http", "GET /todos",
  ]);
  assert.deepEqual(v.checks, [
    { method: "POST", path: "/todos", expectStatus: 201, expectJsonType: "object", body: '{"title":"x"}', headers: { "X-Trace": "1", Authorization: "Bearer t" } },
    { method: "GET", path: "/todos", headers: { "X-Trace": "1" } },
  ]);
  await assert.rejects(parseVerifyArgs(["oci:x", "--http", "POST /", "--http-header", "no colon"]), (e: unknown) => e instanceof UsageError && /--http-header takes "Name: value"/.test(e.message));
  await assert.rejects(parseVerifyArgs(["oci:x", "--http", "POST /", "--http-header", "Bad Name: v"]), UsageError);
  const cmd = buildCommand(["app", "--verify", "--http", "PUT /todos/1 200", "--http-body", "{}"]);
  assert.deepEqual(cmd.verifyChecks.map((f) => f.name), ["http", "http-body"]);
});
