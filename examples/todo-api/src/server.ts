/**
 * Entry point: serve the Todo API (Bun.serve under Bun, node:http under Node), log the
 * lifecycle like Kestrel, and shut down gracefully on SIGTERM/SIGINT, also as PID 1.
 *
 * No top-level await and no import.meta: the file must also work when bundled to CommonJS
 * for a Node single executable application.
 */
import { createTodoApp } from "./app.ts";
import { bunRuntime, startBunHost } from "./bun-host.ts";
import { ConfigError, readConfig, type ServerConfig } from "./config.ts";
import type { HostOptions, HttpHost } from "./http-host.ts";
import { startNodeHost } from "./node-host.ts";

/** Microsoft.Extensions.Logging's console format: "level: category[event]" then the indented message. */
function log(level: "info" | "warn" | "fail" | "crit", category: string, eventId: number, message: string): void {
  const entry = `${level}: ${category}[${eventId}]\n      ${message.replaceAll("\n", "\n      ")}`;
  // console, not process.stdout: under Bun, touching process.stdout builds a Node stream (~15 ms of startup).
  if (level === "info") console.log(entry);
  else console.error(entry);
}

const LIFETIME = "Microsoft.Hosting.Lifetime";
const KESTREL = "Microsoft.AspNetCore.Server.Kestrel";
const APP = "TodoApi";

function listenUrl(address: string, port: number): string {
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : error instanceof Error ? error.message : String(error);
}

function startHost(options: HostOptions): Promise<HttpHost> {
  const bun = bunRuntime();
  return bun === undefined ? startNodeHost(options) : startBunHost(bun, options);
}

/** Kestrel's http://[::]:port is dual-stack and falls back to IPv4 where IPv6 is unavailable. */
async function listen(options: Omit<HostOptions, "hostname">): Promise<HttpHost> {
  try {
    return await startHost({ ...options, hostname: "::" });
  } catch (error) {
    const code = errorCode(error);
    if (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL" && code !== "EINVAL") throw error;
    return startHost({ ...options, hostname: "0.0.0.0" });
  }
}

function run(config: ServerConfig): void {
  const fakeNow = config.fakeNow;
  if (fakeNow !== undefined) {
    log("warn", APP, 1, `TODO_API_FAKE_NOW is set: the clock is fixed at ${fakeNow.toISOString()} (for tests only).`);
  }
  const app = createTodoApp({
    environment: config.environment,
    now: fakeNow === undefined ? () => new Date() : () => new Date(fakeNow.getTime()),
  });
  let shuttingDown = false;
  let host: HttpHost | undefined;

  function finish(): never {
    process.exit(0);
  }

  function forceClose(reason: string): void {
    log("warn", LIFETIME, 0, `${reason}: closing the remaining connections.`);
    host?.forceClose();
    // drain() normally resolves at once now; this only guards against a runtime that never settles it.
    setTimeout(finish, 500).unref();
  }

  function shutdown(): void {
    if (shuttingDown) {
      forceClose("Second signal"); // a second Ctrl+C means "now"
      return;
    }
    shuttingDown = true;
    log("info", LIFETIME, 0, "Application is shutting down...");
    if (host === undefined) finish(); // still binding: nothing to drain
    const forceTimer = setTimeout(() => forceClose("Shutdown timeout reached"), config.shutdownTimeoutMs);
    void host.drain().then(() => {
      clearTimeout(forceTimer);
      finish();
    });
  }

  // As PID 1 the kernel drops signals that have no handler, so these handlers are what make `docker stop` work.
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  listen({
    app,
    port: config.port,
    isShuttingDown: () => shuttingDown,
    onHandlerError: (method, target, error) => log("fail", APP, 2, `Unhandled exception for ${method} ${target}: ${String(error)}`),
  }).then(
    (started) => {
      host = started;
      log("info", LIFETIME, 14, `Now listening on: ${listenUrl(started.address, started.port)}`);
      log("info", LIFETIME, 0, "Application started. Press Ctrl+C to shut down.");
      log("info", LIFETIME, 0, `Hosting environment: ${config.environment}`);
      log("info", LIFETIME, 0, `Content root path: ${process.cwd()}`);
    },
    (error: unknown) => {
      log("crit", KESTREL, 0, `Failed to bind to address ${listenUrl("::", config.port)}: ${errorCode(error)}.`);
      process.exitCode = 1;
      process.off("SIGTERM", shutdown);
      process.off("SIGINT", shutdown);
    },
  );
}

try {
  run(readConfig(process.env));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  log("crit", APP, 0, error.message);
  process.exitCode = 1;
}
