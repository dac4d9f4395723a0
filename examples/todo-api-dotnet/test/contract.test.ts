/**
 * The ASP.NET Core Todo API against the same contract suite as the TypeScript example, over
 * real HTTP. It runs under the JIT (`dotnet build`, then `dotnet TodoApi.dll`): this machine's
 * NuGet source has no NativeAOT packs (see README.md); routing, binding and JSON are the same
 * code under NativeAOT, and the request-delegate generator is on in both.
 */
import { after, before, describe, test } from "node:test";
import { equal, match, ok } from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assertContract, httpRequest, todoContract } from "../../todo-api/test/contract.ts";
import { attachServer, runToExit, spawnServer, type Launcher, type RunningServer } from "../../todo-api/test/server-process.ts";
import { skipOrFail } from "../../../test/support/index.ts";
import { buildForJit, dotnetExampleDir, dotnetMissing, freePort } from "./dotnet.ts";

const FAKE_NOW = "2026-01-31T23:30:00Z";
/** The first build restores and compiles, about a minute on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 5 * 60_000;
/** JIT startup on a loaded machine is seconds, not milliseconds. */
const START_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;
const SHUTDOWN_BOUND_MS = 5_000;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

describe("todo-api-dotnet (ASP.NET Core, JIT) against the todo-api contract", { skip: skipOrFail(dotnetMissing()), timeout: 15 * 60_000 }, () => {
  let workDir = "";
  let launcher: Launcher;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "todo-api-dotnet-"));
    const dll = await buildForJit(join(workDir, "artifacts"), BUILD_TIMEOUT_MS);
    launcher = { name: "dotnet", command: "dotnet", args: [dll], cwd: dotnetExampleDir };
  });

  after(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function withServer(env: Record<string, string>, body: (server: RunningServer) => Promise<void>): Promise<void> {
    const server = await attachServer(spawnServer(launcher, env), START_TIMEOUT_MS);
    try {
      await body(server);
    } finally {
      await server.kill();
    }
  }

  test("Production, TZ=UTC, fixed clock: every contract check passes; Kestrel's lifecycle lines", { timeout: TEST_TIMEOUT_MS }, async () => {
    await withServer({ TZ: "UTC", TODO_API_FAKE_NOW: FAKE_NOW }, async (server) => {
      assertContract(await todoContract(server.baseUrl, { today: "2026-01-31", environment: "Production" }));
      const stdout = server.stdout();
      match(stdout, /info: Microsoft\.Hosting\.Lifetime\[14\]\n {6}Now listening on: http:\/\/\[::\]:\d+\n/);
      match(stdout, /Hosting environment: Production\n/);
      match(stdout, new RegExp(`Content root path: ${escapeRegExp(dotnetExampleDir)}/?\\n`));
      match(server.stderr(), /warn: TodoApi\[1\]\n {6}TODO_API_FAKE_NOW is set/, "the fixed clock is announced on stderr");
    });
  });

  test("Development, TZ=Asia/Tokyo: the local date is the next day; OpenAPI is served", { timeout: TEST_TIMEOUT_MS }, async () => {
    // 23:30 UTC on Jan 31 is 08:30 on Feb 1 in Tokyo: the dates must follow TZ, not UTC.
    await withServer({ TZ: "Asia/Tokyo", TODO_API_FAKE_NOW: FAKE_NOW, ASPNETCORE_ENVIRONMENT: "Development" }, async (server) => {
      assertContract(await todoContract(server.baseUrl, { today: "2026-02-01", environment: "Development" }));
    });
  });

  test("PORT unset: ASPNETCORE_HTTP_PORTS decides, on [::]; real clock", { timeout: TEST_TIMEOUT_MS }, async () => {
    const port = await freePort();
    await withServer({ PORT: "", ASPNETCORE_HTTP_PORTS: String(port), TZ: "UTC" }, async (server) => {
      equal(server.port, port, "listens on ASPNETCORE_HTTP_PORTS");
      assertContract(await todoContract(server.baseUrl, { environment: "Production" }));
    });
  });

  test("SIGTERM: logs the shutdown and exits 0 within 5 s", { timeout: TEST_TIMEOUT_MS }, async () => {
    await withServer({ TZ: "UTC" }, async (server) => {
      equal((await httpRequest(server.baseUrl, "GET", "/healthz")).status, 200, "serving before the signal");
      ok(server.child.kill("SIGTERM"), "signal delivered");
      const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
      equal(exit.code, 0, `exit ${JSON.stringify(exit)}\nstderr:\n${server.stderr()}`);
      match(server.stdout(), /info: Microsoft\.Hosting\.Lifetime\[0\]\n {6}Application is shutting down\.\.\.\n/);
    });
  });

  test("a bad PORT or TODO_API_FAKE_NOW: one crit line naming it, exit 1", { timeout: TEST_TIMEOUT_MS }, async () => {
    const badPort = await runToExit(launcher, { PORT: "http" }, START_TIMEOUT_MS);
    equal(badPort.code, 1, badPort.stderr);
    match(badPort.stderr, /^crit: TodoApi\[2\]\n {6}PORT must be an integer from 0 to 65535, got "http"\n$/);
    const badClock = await runToExit(launcher, { TODO_API_FAKE_NOW: "2026-01-31T23:30:00" }, START_TIMEOUT_MS);
    equal(badClock.code, 1, badClock.stderr);
    match(badClock.stderr, /^crit: TodoApi\[2\]\n {6}TODO_API_FAKE_NOW must be an ISO 8601 instant with a zone/);
    equal(badClock.stdout, "", "nothing started");
  });

  test("a port in use: one crit line naming the address, exit 1", { timeout: TEST_TIMEOUT_MS }, async () => {
    const holder = createServer();
    await new Promise<void>((resolveListen, reject) => {
      holder.once("error", reject);
      holder.listen(0, "::", () => resolveListen());
    });
    try {
      const address = holder.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      const busy = await runToExit(launcher, { PORT: String(port) }, START_TIMEOUT_MS);
      equal(busy.code, 1, busy.stderr);
      match(busy.stderr, new RegExp(`^crit: TodoApi\\[3\\]\\n {6}Failed to bind to address http://\\[::\\]:${port}: address already in use\\.\\n$`));
    } finally {
      await new Promise<void>((resolveClose) => holder.close(() => resolveClose()));
    }
  });
});
