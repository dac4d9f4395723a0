/**
 * `aotpack build examples/todo-api-dotnet --platform linux/amd64,linux/arm64` through the CLI.
 * Two outcomes are correct, depending on the machine's NuGet source:
 *  - it serves the NativeAOT packs: the build succeeds and `--verify` runs both platforms'
 *    images (arm64 under qemu-user);
 *  - it does not (this machine, 2026-11-22): exit 1 and ONE error line naming the missing
 *    packages, with nothing written at the output.
 * Anything else (a stack trace, a raw NuGet dump, a half-written layout) fails.
 */
import { after, before, describe, test } from "node:test";
import { deepEqual, doesNotMatch, equal, match, ok } from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { REPO_ROOT, type CliResult } from "../../../test/support/cli.ts";
import { skipOrFail } from "../../todo-api/test/server-process.ts";
import { checkDotnetToolchain } from "../../../src/compile/dotnet-aot.ts";
import { parsePlatform } from "../../../src/oci/platform.ts";
import { dotnetExampleDir, dotnetMissing, quietDotnetEnv } from "./dotnet.ts";

/** Two cold NativeAOT publishes plus verify under qemu, when the packs exist. */
const BUILD_TIMEOUT_MS = 15 * 60_000;
/** How long a process the CLI left behind may take to finish before it is killed. */
const STRAGGLER_WAIT_MS = 120_000;

/** The packs a NativeAOT publish for linux-x64 / linux-arm64 restores; a missing one must be named. */
const NATIVEAOT_PACK = /Microsoft\.NETCore\.App\.Runtime\.NativeAOT\.linux-(?:x64|arm64)|(?:runtime\.linux-(?:x64|arm64)\.)?Microsoft\.DotNet\.ILCompiler/;

/**
 * `aotpack ...` like test/support/cli.ts's runCli, but in its own process group, so that once the
 * CLI has exited we can wait for (and, past a bound, kill) anything it left running. Today a
 * failed build exits while the other platform's `dotnet publish` still runs and writes obj/.
 */
async function runCliInOwnGroup(args: string[], env: Record<string, string>, timeoutMs: number): Promise<CliResult & { stragglers: boolean }> {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "src/cli/bin.ts"), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const groupId = child.pid;
  if (groupId === undefined) throw new Error("spawn failed: no pid");
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const killGroup = (): void => {
    try {
      process.kill(-groupId, "SIGKILL");
    } catch {
      // the group is already gone
    }
  };
  const code = await new Promise<number>((resolveExit, reject) => {
    const timer = setTimeout(killGroup, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (exitCode, signal) => {
      clearTimeout(timer);
      resolveExit(exitCode ?? (signal ? 128 : 1));
    });
  });
  const groupAlive = (): boolean => {
    try {
      process.kill(-groupId, 0);
      return true;
    } catch {
      return false;
    }
  };
  const stragglers = groupAlive();
  const deadline = Date.now() + STRAGGLER_WAIT_MS;
  while (groupAlive() && Date.now() < deadline) await new Promise((resolveWait) => setTimeout(resolveWait, 200));
  killGroup();
  return { code, stdout, stderr, stragglers };
}

async function whyCannotBuild(): Promise<string | undefined> {
  const dotnet = dotnetMissing();
  if (dotnet) return dotnet;
  const problems = [
    ...(await checkDotnetToolchain(parsePlatform("linux/amd64"))),
    ...(await checkDotnetToolchain(parsePlatform("linux/arm64"))),
  ];
  if (problems.length === 0) return undefined;
  const packages = [...new Set(problems.map((problem) => problem.debianPackage))].join(" ");
  return `NativeAOT toolchain incomplete (${problems.map((problem) => problem.missing).join(", ")}): apt-get install ${packages}`;
}

describe("aotpack build examples/todo-api-dotnet for linux/amd64 and linux/arm64", { skip: skipOrFail(await whyCannotBuild()), timeout: BUILD_TIMEOUT_MS + 60_000 }, () => {
  let workDir = "";
  // `dotnet publish` restores into the project's obj/ (and may write bin/); remove what this test created.
  const generated = ["obj", "bin"].map((name) => join(dotnetExampleDir, name)).filter((path) => !existsSync(path));

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "todo-api-dotnet-build-"));
  });

  after(async () => {
    for (const path of generated) await rm(path, { recursive: true, force: true });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test("succeeds and verifies both platforms, or fails with one line naming the missing NuGet packages", { timeout: BUILD_TIMEOUT_MS + STRAGGLER_WAIT_MS + 30_000 }, async (t) => {
    const outDir = join(workDir, "out");
    const layout = join(outDir, "todo-dotnet");
    const result = await runCliInOwnGroup(
      ["build", "examples/todo-api-dotnet", "--platform", "linux/amd64,linux/arm64", "-o", `oci:${layout}:latest`, "--verify"],
      // A private cache: nothing shared with other tests or left in the user's cache.
      { ...quietDotnetEnv, AOTPACK_CACHE_DIR: join(workDir, "cache") },
      BUILD_TIMEOUT_MS,
    );
    if (result.stragglers) t.diagnostic("the CLI exited while processes it started were still running (see README: known gaps)");
    const transcript = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;

    if (result.code === 0) {
      // The packs are there: both images were built and `--verify` ran each (arm64 under qemu-user).
      ok(existsSync(join(layout, "index.json")), `an OCI layout at ${layout}\n${transcript}`);
      match(result.stdout + result.stderr, /linux\/amd64/, transcript);
      match(result.stdout + result.stderr, /linux\/arm64/, transcript);
      return;
    }

    equal(result.code, 1, `a missing package is a user-environment error (exit 1), not a usage error or a crash\n${transcript}`);
    const errorLines = result.stderr.split("\n").filter((line) => line.startsWith("aotpack: error:"));
    equal(errorLines.length, 1, `exactly one error line\n${transcript}`);
    const [errorLine = ""] = errorLines;
    match(errorLine, /^aotpack: error: dotnet publish for linux\/(?:amd64|arm64) failed: the NuGet source does not serve /, transcript);
    match(errorLine, NATIVEAOT_PACK, `the line names the missing NativeAOT pack\n${transcript}`);
    doesNotMatch(result.stderr, /error NU1101|\n\s+at /, `no raw restore output and no stack trace\n${transcript}`);
    // Nothing at the output: the layout is written to a temp path and renamed only on success.
    deepEqual(existsSync(outDir) ? await readdir(outDir) : [], [], `no partial output in ${outDir}`);
  });
});
