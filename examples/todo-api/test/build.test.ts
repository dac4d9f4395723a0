/**
 * The shapes the example ships in, built for real and checked over HTTP: a CommonJS bundle
 * (what the Node SEA compiler embeds) and a `bun build --compile` executable (the default
 * compiler). The executable runs from an empty directory with the real clock, the way a
 * container image runs it, so the contract derives "today" from the responses.
 */
import { after, before, describe, test } from "node:test";
import { deepEqual, equal, match } from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { build } from "esbuild";
import { assertContract, todoContract } from "./contract.ts";
import { bunBinary, bunMissing, exampleDir, repoRoot, serverEntry, startServer, type Launcher } from "./server-process.ts";
import { skipOrFail } from "../../../test/support/index.ts";

const TEST_TIMEOUT = 120_000;

describe("CommonJS bundle for Node SEA (esbuild)", { timeout: TEST_TIMEOUT }, () => {
  let workDir = "";
  before(() => (workDir = mkdtempSync(join(tmpdir(), "todo-api-cjs-"))));
  after(() => rmSync(workDir, { recursive: true, force: true }));

  test("bundles from src/ alone, without warnings, and serves the contract under plain node", { timeout: TEST_TIMEOUT }, async () => {
    const outfile = join(workDir, "server.cjs");
    const result = await build({
      entryPoints: [serverEntry],
      bundle: true,
      platform: "node",
      format: "cjs", // esbuild rejects top-level await and import.meta here, which is the point
      target: "node20",
      outfile,
      metafile: true,
      logLevel: "silent",
    });
    deepEqual(result.warnings, []);
    const inputs = Object.keys(result.metafile.inputs).map((input) => relative(exampleDir, join(process.cwd(), input)));
    deepEqual(inputs.filter((input) => !input.startsWith("src/")), [], "no dependencies outside src/");

    const launcher: Launcher = { name: "node (cjs bundle)", command: process.execPath, args: [outfile], cwd: workDir };
    const server = await startServer(launcher, { TZ: "Asia/Tokyo", TODO_API_FAKE_NOW: "2026-01-31T23:30:00Z", ASPNETCORE_ENVIRONMENT: "Development" });
    try {
      assertContract(await todoContract(server.baseUrl, { today: "2026-02-01", environment: "Development" }));
      match(server.stdout(), new RegExp(`Content root path: ${workDir}\\n`));
      process.kill(server.pid, "SIGTERM");
      equal((await server.waitForExit(5_000)).code, 0);
    } finally {
      await server.kill();
    }
  });
});

describe("single-file executable (bun build --compile)", { skip: skipOrFail(bunMissing()), timeout: TEST_TIMEOUT }, () => {
  let workDir = "";
  let executable = "";
  before(() => {
    workDir = mkdtempSync(join(tmpdir(), "todo-api-bun-"));
    executable = join(workDir, "todo-api");
    const compile = spawnSync(bunBinary, ["build", "--compile", "--minify", serverEntry, "--outfile", executable], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 90_000,
    });
    equal(compile.status, 0, `bun build --compile failed:\n${compile.stderr}${compile.stdout}`);
  });
  after(() => rmSync(workDir, { recursive: true, force: true }));

  for (const environment of ["Production", "Development"]) {
    test(`from an empty directory with the real clock (${environment}): contract with derived today, SIGTERM exits 0`, { timeout: TEST_TIMEOUT }, async () => {
      equal(statSync(executable).mode & 0o111, 0o111, "executable");
      const emptyDir = join(workDir, `run-${environment}`);
      mkdirSync(emptyDir);
      const launcher: Launcher = { name: "bun --compile", command: executable, args: [], cwd: emptyDir };
      const server = await startServer(launcher, { TZ: "UTC", ASPNETCORE_ENVIRONMENT: environment });
      try {
        assertContract(await todoContract(server.baseUrl, { environment }));
        match(server.stdout(), new RegExp(`Hosting environment: ${environment}\\n`));
        match(server.stdout(), new RegExp(`Content root path: ${emptyDir}\\n`));
        process.kill(server.pid, "SIGTERM");
        equal((await server.waitForExit(5_000)).code, 0);
        match(server.stdout(), /Application is shutting down\.\.\./);
      } finally {
        await server.kill();
      }
    });
  }
});
