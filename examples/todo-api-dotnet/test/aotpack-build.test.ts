/**
 * `aotpack build examples/todo-api-dotnet --platform linux/amd64,linux/arm64 --verify` through the
 * CLI, as a user runs it: both platforms must build (arm64 cross-linked on this x86_64 host) and
 * pass verify (arm64 under qemu-user), and then the same contract suite as examples/todo-api runs
 * against each platform's running image (`aotpack run`, arm64 under qemu-user).
 */
import { after, before, describe, test } from "node:test";
import { equal, match, ok } from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { REPO_ROOT, type CliResult } from "../../../test/support/cli.ts";
import { skipOrFail } from "../../../test/support/index.ts";
import { assertContract, todoContract } from "../../todo-api/test/contract.ts";
import { checkDotnetToolchain } from "../../../src/compile/dotnet-aot.ts";
import { parsePlatform } from "../../../src/oci/platform.ts";
import { dotnetExampleDir, dotnetMissing, freePort, quietDotnetEnv } from "./dotnet.ts";

/** Two cold NativeAOT publishes plus verify under qemu: ~3 min alone, over 20 min on a loaded shared 2-core host. */
const BUILD_TIMEOUT_MS = 40 * 60_000;
/** How long a process the CLI left behind may take to finish before it is killed. */
const STRAGGLER_WAIT_MS = 120_000;

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

const FAKE_NOW = "2026-01-31T23:30:00Z";
/** qemu-user start-up of the NativeAOT server is tens of seconds on a loaded machine. */
const START_TIMEOUT_MS = 120_000;

/** `aotpack run IMAGE --platform P -p HOST:8080`, until Kestrel says it listens; SIGTERM must stop it with exit 0. */
async function withImage(image: string, platform: string, env: Record<string, string>, body: (baseUrl: string) => Promise<void>): Promise<void> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "src/cli/bin.ts"), "run", image, "--platform", platform, "-p", `${port}:8080`, ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`])],
    { cwd: REPO_ROOT, env: { ...process.env, ...quietDotnetEnv }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolveExit) => child.once("close", (code) => resolveExit(code)));
  try {
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => reject(new Error(`${platform}: not listening within ${START_TIMEOUT_MS} ms\n${out}`)), START_TIMEOUT_MS);
      const poll = setInterval(() => {
        if (!/Now listening on/.test(out)) return;
        clearInterval(poll);
        clearTimeout(timer);
        resolveStart();
      }, 100);
      void exited.then((code) => {
        clearInterval(poll);
        clearTimeout(timer);
        reject(new Error(`${platform}: aotpack run exited (${String(code)}) before listening\n${out}`));
      });
    });
    await body(`http://127.0.0.1:${port}`);
    child.kill("SIGTERM");
    equal(await exited, 0, `${platform}: SIGTERM stops the app with exit 0\n${out}`);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/** The paths in the first (base) layer of one platform's image in an OCI layout. */
async function baseLayerListing(layoutDir: string, architecture: string): Promise<string[]> {
  const blob = (digest: string) => join(layoutDir, "blobs", "sha256", digest.split(":")[1]!);
  const json = async (digest: string) => JSON.parse(await readFile(blob(digest), "utf8"));
  const index = JSON.parse(await readFile(join(layoutDir, "index.json"), "utf8"));
  const platforms = await json(index.manifests[0].digest);
  const entry = platforms.manifests.find((m: { platform?: { architecture?: string } }) => m.platform?.architecture === architecture);
  const manifest = await json(entry.digest);
  const listing = await promisify(execFile)("tar", ["-tzf", blob(manifest.layers[0].digest)], { maxBuffer: 16 << 20 });
  return listing.stdout.split("\n").map((p) => p.replace(/^\.?\//, ""));
}

describe("aotpack build examples/todo-api-dotnet for linux/amd64 and linux/arm64", { skip: skipOrFail(await whyCannotBuild()), timeout: BUILD_TIMEOUT_MS + 25 * 60_000 }, () => {
  let workDir = "";
  let layout = "";
  // `dotnet publish` restores into the project's obj/ (and may write bin/); remove what this test created.
  const generated = ["obj", "bin"].map((name) => join(dotnetExampleDir, name)).filter((path) => !existsSync(path));

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "todo-api-dotnet-build-"));
  });

  after(async () => {
    for (const path of generated) await rm(path, { recursive: true, force: true });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test("builds both platforms and --verify passes on both (arm64 under qemu-user)", { timeout: BUILD_TIMEOUT_MS + STRAGGLER_WAIT_MS + 30_000 }, async (t) => {
    layout = join(workDir, "out", "todo-dotnet");
    const result = await runCliInOwnGroup(
      // Its own lock: a stale examples/todo-api-dotnet/aotpack.lock (git-ignored, per machine) must not decide the result.
      ["build", "examples/todo-api-dotnet", "--platform", "linux/amd64,linux/arm64", "-o", `oci:${layout}:latest`, "--verify", "--lockfile", join(workDir, "aotpack.lock")],
      // A private cache: nothing shared with other tests or left in the user's cache.
      { ...quietDotnetEnv, AOTPACK_CACHE_DIR: join(workDir, "cache") },
      BUILD_TIMEOUT_MS,
    );
    if (result.stragglers) t.diagnostic("the CLI exited while processes it started were still running");
    const transcript = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    equal(result.code, 0, transcript);
    ok(existsSync(join(layout, "index.json")), `an OCI layout at ${layout}\n${transcript}`);
    match(result.stdout, /linux\/amd64: PASS/, transcript);
    match(result.stdout, /linux\/arm64: PASS \(.*qemu-user\)/, transcript);
    ok(existsSync(join(workDir, "out", "todo-dotnet.symbols", "linux-amd64", "TodoApi.dbg")), "symbols beside the output");
    ok(existsSync(join(workDir, "out", "todo-dotnet.symbols", "linux-arm64", "TodoApi.dbg")), "symbols beside the output");
    t.diagnostic(result.stdout.split("\n").filter((l) => /image total|startup|RSS/.test(l)).join("\n"));
    // The config's "omit" is honoured and said: the Todo API ships without OpenSSL and the CA bundle.
    match(result.stderr, /linux\/amd64: the base leaves out OpenSSL/, transcript);
    const base = await baseLayerListing(layout, "amd64");
    ok(base.includes("usr/lib/x86_64-linux-gnu/libc.so.6"), "the base has glibc");
    ok(base.includes("usr/share/zoneinfo/Asia/Tokyo"), "the base has tzdata");
    ok(!base.some((p) => /libssl|libcrypto|ca-certificates\.crt/.test(p)), `no OpenSSL, no CA bundle:\n${base.filter((p) => /ssl|crypto/.test(p)).join("\n")}`);
  });

  for (const platform of ["linux/amd64", "linux/arm64"]) {
    test(`${platform}: the todo-api contract suite against the running image (TZ=Asia/Tokyo, fixed clock)`, { timeout: 10 * 60_000 }, async () => {
      ok(layout && existsSync(join(layout, "index.json")), "the build test produced the image");
      // 23:30 UTC on Jan 31 is Feb 1 in Tokyo: the image's zoneinfo must make TZ work.
      await withImage(`oci:${layout}:latest`, platform, { TZ: "Asia/Tokyo", TODO_API_FAKE_NOW: FAKE_NOW }, async (baseUrl) => {
        assertContract(await todoContract(baseUrl, { today: "2026-02-01", environment: "Production" }));
      });
    });
  }
});
