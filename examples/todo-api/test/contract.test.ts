/**
 * The example from source, over real HTTP, under both runtimes it must support:
 * `node --import tsx src/server.ts` and `bun src/server.ts`. The clock is fixed with
 * TODO_API_FAKE_NOW so every date is exact; TZ varies to prove the local-date rules.
 */
import { describe, test } from "node:test";
import { equal, match, ok, doesNotMatch } from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { assertContract, expectedTodos, httpRequest, todoContract } from "./contract.ts";
import {
  attachServer,
  bunFromSource,
  bunMissing,
  exampleDir,
  nodeFromSource,
  runToExit,
  skipOrFail,
  spawnServer,
  startServer,
  type Launcher,
  type RunningServer,
} from "./server-process.ts";

const FAKE_NOW = "2026-01-31T23:30:00Z";
const TEST_TIMEOUT = 60_000;
/** The contract: stopped within 5 s of SIGTERM/SIGINT. */
const SHUTDOWN_BOUND_MS = 5_000;

async function withServer<T>(launcher: Launcher, env: Record<string, string>, body: (server: RunningServer) => Promise<T>): Promise<T> {
  const server = await startServer(launcher, env);
  try {
    return await body(server);
  } finally {
    await server.kill();
  }
}

/** Poll until `condition` holds; bounded. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface RawConnection {
  socket: Socket;
  received(): string;
  closed: Promise<void>;
}

function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    let data = "";
    const socket = connect(port, "127.0.0.1");
    socket.setEncoding("utf8").on("data", (chunk: string) => (data += chunk));
    const closed = new Promise<void>((resolveClosed) => socket.once("close", () => resolveClosed()));
    socket.once("error", reject);
    socket.once("connect", () => resolve({ socket, received: () => data, closed }));
  });
}

/** Number of complete HTTP/1.1 responses (all with content-length) in `text`. */
function completeResponses(text: string): number {
  let count = 0;
  let rest = text;
  for (;;) {
    const headerEnd = rest.indexOf("\r\n\r\n");
    if (headerEnd < 0) return count;
    const length = Number(/content-length: *(\d+)/i.exec(rest.slice(0, headerEnd))?.[1] ?? "0");
    if (Buffer.byteLength(rest.slice(headerEnd + 4)) < length) return count;
    count += 1;
    rest = rest.slice(headerEnd + 4 + length);
  }
}

/**
 * A connection holding a request whose headers are still arriving: the request line and the
 * Host header, but not the blank line that ends the headers. A full round trip on a second
 * connection afterwards means the server has been through its event loop since those bytes
 * landed (both runtimes serve every ready socket per turn), so it has read them: the
 * connection carries a request in progress, not an idle one.
 */
async function requestInFlight(baseUrl: string, port: number): Promise<RawConnection> {
  const connection = await rawConnect(port);
  await new Promise<void>((resolve, reject) =>
    connection.socket.write("GET /todos/3 HTTP/1.1\r\nHost: test\r\n", (error) => (error ? reject(error) : resolve())),
  );
  equal((await httpRequest(baseUrl, "GET", "/healthz")).status, 200);
  return connection;
}

function lifecycleLines(environment: string): RegExp[] {
  return [
    /info: Microsoft\.Hosting\.Lifetime\[14\]\n {6}Now listening on: http:\/\/\[::\]:\d+\n/,
    /info: Microsoft\.Hosting\.Lifetime\[0\]\n {6}Application started\. Press Ctrl\+C to shut down\.\n/,
    new RegExp(`info: Microsoft\\.Hosting\\.Lifetime\\[0\\]\\n {6}Hosting environment: ${environment}\\n`),
    new RegExp(`info: Microsoft\\.Hosting\\.Lifetime\\[0\\]\\n {6}Content root path: ${exampleDir.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\n`),
  ];
}

function unshareMissing(): string | undefined {
  const probe = spawnSync("unshare", ["--pid", "--fork", "--kill-child", "true"], { encoding: "utf8", timeout: 10_000 });
  return probe.status === 0 ? undefined : `cannot create a PID namespace with unshare: ${probe.stderr.trim() || probe.error?.message || "unknown"}`;
}

const runtimes: { launcher: Launcher; missing: () => string | undefined }[] = [
  { launcher: nodeFromSource, missing: () => undefined },
  { launcher: bunFromSource, missing: bunMissing },
];

for (const { launcher, missing } of runtimes) {
  describe(`todo-api from source under ${launcher.name}`, { skip: skipOrFail(missing()), timeout: 10 * TEST_TIMEOUT }, () => {
    test("contract in Production, TZ=UTC: every check passes; lifecycle lines like Kestrel", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, { TZ: "UTC", TODO_API_FAKE_NOW: FAKE_NOW }, async (server) => {
        assertContract(await todoContract(server.baseUrl, { today: "2026-01-31", environment: "Production" }));
        for (const line of lifecycleLines("Production")) match(server.stdout(), line);
        match(server.stderr(), /TODO_API_FAKE_NOW is set: the clock is fixed at 2026-01-31T23:30:00\.000Z/);
      });
    });

    test("contract in Development, TZ=Asia/Tokyo: the same instant is already February; OpenAPI served", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(
        launcher,
        { TZ: "Asia/Tokyo", TODO_API_FAKE_NOW: FAKE_NOW, ASPNETCORE_ENVIRONMENT: "Development" },
        async (server) => {
          assertContract(await todoContract(server.baseUrl, { today: "2026-02-01", environment: "Development" }));
          for (const line of lifecycleLines("Development")) match(server.stdout(), line);
        },
      );
    });

    test("DOTNET_ENVIRONMENT selects the environment when ASPNETCORE_ENVIRONMENT is unset", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, { DOTNET_ENVIRONMENT: "development" }, async (server) => {
        equal((await httpRequest(server.baseUrl, "GET", "/openapi/v1.json")).status, 200);
        match(server.stdout(), /Hosting environment: development\n/);
      });
    });

    // Month, year, leap-day and DST edges, each in the zone where the instant is interesting.
    const dateCases: { tz: string; now: string; today: string; why: string }[] = [
      { tz: "America/Los_Angeles", now: FAKE_NOW, today: "2026-01-31", why: "behind UTC: still January 31" },
      { tz: "UTC", now: "2026-12-31T23:59:59Z", today: "2026-12-31", why: "year end: +1 and +2 are in 2027" },
      { tz: "Pacific/Kiritimati", now: "2026-12-31T12:00:00Z", today: "2027-01-01", why: "UTC+14: already next year" },
      { tz: "UTC", now: "2028-02-28T10:00:00Z", today: "2028-02-28", why: "leap year: +1 is February 29" },
      { tz: "America/New_York", now: "2026-03-08T04:30:00Z", today: "2026-03-07", why: "the night DST starts" },
    ];
    for (const { tz, now, today, why } of dateCases) {
      test(`dates: ${now} in TZ=${tz} → today ${today} (${why})`, { timeout: TEST_TIMEOUT }, async () => {
        await withServer(launcher, { TZ: tz, TODO_API_FAKE_NOW: now }, async (server) => {
          const reply = await httpRequest(server.baseUrl, "GET", "/todos");
          equal(reply.status, 200);
          equal(reply.body.toString("utf8"), JSON.stringify(expectedTodos(today)));
        });
      });
    }

    test("listens dual-stack on [::]: reachable over IPv4 and IPv6 loopback", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, {}, async (server) => {
        equal((await httpRequest(`http://127.0.0.1:${server.port}`, "GET", "/healthz")).status, 200);
        equal((await httpRequest(`http://[::1]:${server.port}`, "GET", "/healthz")).status, 200);
      });
    });

    test("SIGTERM with an idle keep-alive connection open: exits 0 at once, not at the deadline", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, {}, async (server) => {
        const idle = await rawConnect(server.port);
        try {
          idle.socket.write("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
          await waitFor("the keep-alive response", () => completeResponses(idle.received()) === 1);
          doesNotMatch(idle.received(), /connection: close/i, "the connection stays open (HTTP/1.1 keep-alive)");
          process.kill(server.pid, "SIGTERM");
          const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
          equal(exit.code, 0, `exit code (signal ${exit.signal})`);
          match(server.stdout(), /info: Microsoft\.Hosting\.Lifetime\[0\]\n {6}Application is shutting down\.\.\.\n/);
          doesNotMatch(server.stderr(), /Shutdown timeout reached/, "the idle connection was closed, not waited for");
          await idle.closed;
        } finally {
          idle.socket.destroy();
        }
      });
    });

    test("SIGTERM with a request in flight: the request completes (Connection: close), then exit 0", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, { TZ: "UTC", TODO_API_FAKE_NOW: FAKE_NOW }, async (server) => {
        const connection = await requestInFlight(server.baseUrl, server.port);
        try {
          process.kill(server.pid, "SIGTERM");
          await waitFor("the shutdown line", () => server.stdout().includes("Application is shutting down..."));
          connection.socket.write("\r\n"); // end the headers: the request is complete
          await connection.closed; // the server closes after answering
          const response = connection.received();
          equal(completeResponses(response), 1, `one response:\n${response}`);
          match(response, /^HTTP\/1\.1 200 /);
          match(response, /\r\nconnection: close\r\n/i);
          ok(response.endsWith(JSON.stringify(expectedTodos("2026-01-31")[2])), "todo 3 in full");
          const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
          equal(exit.code, 0, `exit code (signal ${exit.signal})`);
          doesNotMatch(server.stderr(), /Shutdown timeout reached/);
        } finally {
          connection.socket.destroy();
        }
      });
    });

    test("SIGTERM with a request that never completes: connections are cut at the deadline, exit 0", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, { TODO_API_SHUTDOWN_TIMEOUT_MS: "300" }, async (server) => {
        const connection = await requestInFlight(server.baseUrl, server.port);
        try {
          process.kill(server.pid, "SIGTERM");
          const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
          equal(exit.code, 0, `exit code (signal ${exit.signal})`);
          match(server.stderr(), /Shutdown timeout reached: closing the remaining connections\./);
          await connection.closed;
        } finally {
          connection.socket.destroy();
        }
      });
    });

    test("a second signal cuts the remaining connections at once (the deadline is a minute away)", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, { TODO_API_SHUTDOWN_TIMEOUT_MS: "60000" }, async (server) => {
        const connection = await requestInFlight(server.baseUrl, server.port);
        try {
          process.kill(server.pid, "SIGINT");
          await waitFor("the shutdown line", () => server.stdout().includes("Application is shutting down..."));
          process.kill(server.pid, "SIGINT");
          const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
          equal(exit.code, 0, `exit code (signal ${exit.signal})`);
          match(server.stderr(), /Second signal: closing the remaining connections\./);
          await connection.closed;
        } finally {
          connection.socket.destroy();
        }
      });
    });

    test("SIGINT (Ctrl+C): graceful shutdown, exit 0", { timeout: TEST_TIMEOUT }, async () => {
      await withServer(launcher, {}, async (server) => {
        process.kill(server.pid, "SIGINT");
        const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
        equal(exit.code, 0, `exit code (signal ${exit.signal})`);
        match(server.stdout(), /Application is shutting down\.\.\./);
      });
    });

    test("as PID 1 (own PID namespace, where unhandled signals are dropped): SIGTERM exits 0", { timeout: TEST_TIMEOUT, skip: skipOrFail(unshareMissing()) }, async () => {
      // --kill-child: if the test kills unshare, the kernel takes the server down with it.
      const server = await attachServer(spawnServer(launcher, {}, ["unshare", "--pid", "--fork", "--kill-child"]));
      try {
        const children = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, "utf8").trim().split(/\s+/);
        equal(children.length, 1, "unshare has one child");
        const pid = Number(children[0]);
        match(readFileSync(`/proc/${pid}/status`, "utf8"), /^NSpid:\s+\d+\s+1$/m, "the server is PID 1 in its namespace");
        process.kill(pid, "SIGTERM");
        const exit = await server.waitForExit(SHUTDOWN_BOUND_MS);
        equal(exit.code, 0, `exit code (signal ${exit.signal})`);
        match(server.stdout(), /Application is shutting down\.\.\./);
      } finally {
        await server.kill();
      }
    });

    test("startup errors: one clear line, exit 1", { timeout: TEST_TIMEOUT }, async () => {
      const badPort = await runToExit(launcher, { PORT: "http" });
      equal(badPort.code, 1, badPort.stderr);
      match(badPort.stderr, /PORT must be an integer from 0 to 65535, got "http"/);

      const badClock = await runToExit(launcher, { TODO_API_FAKE_NOW: "2026-01-31T23:30:00" });
      equal(badClock.code, 1, badClock.stderr);
      match(badClock.stderr, /TODO_API_FAKE_NOW must be an ISO 8601 instant with a zone/);

      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, "::", resolve));
      try {
        const address = holder.address();
        const port = typeof address === "object" && address !== null ? address.port : 0;
        const busy = await runToExit(launcher, { PORT: String(port) });
        equal(busy.code, 1, busy.stderr);
        match(busy.stderr, new RegExp(`Failed to bind to address http://\\[::\\]:${port}: EADDRINUSE`));
      } finally {
        await new Promise((resolve) => holder.close(resolve));
      }
    });
  });
}
