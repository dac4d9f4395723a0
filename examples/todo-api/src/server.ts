/**
 * Entry point: serve the Todo API on node:http (implemented by both Bun and Node, so the same
 * file runs from source, as a `bun build --compile` executable and as a Node SEA bundle), log
 * the lifecycle like Kestrel, and shut down gracefully on SIGTERM/SIGINT, also as PID 1.
 *
 * No top-level await and no import.meta: the file must also work when bundled to CommonJS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createTodoApp } from "./app.ts";
import { ConfigError, readConfig, type ServerConfig } from "./config.ts";

/** Microsoft.Extensions.Logging's console format: "level: category[event]" then the indented message. */
function log(level: "info" | "warn" | "fail" | "crit", category: string, eventId: number, message: string): void {
  const line = `${level}: ${category}[${eventId}]\n      ${message.replaceAll("\n", "\n      ")}\n`;
  (level === "info" ? process.stdout : process.stderr).write(line);
}

const LIFETIME = "Microsoft.Hosting.Lifetime";
const APP = "TodoApi";

function listenUrl(address: string, port: number): string {
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
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

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    try {
      const result = app.handle(request.method ?? "GET", request.url ?? "/");
      // Once stopping, tell keep-alive clients to go away so the connection can close after this response.
      if (shuttingDown) response.setHeader("connection", "close");
      response.writeHead(result.status, result.headers);
      response.end(result.body.byteLength > 0 ? result.body : undefined);
    } catch (error) {
      log("fail", APP, 2, `Unhandled exception for ${request.method} ${request.url}: ${String(error)}`);
      if (!response.headersSent) response.writeHead(500, { "content-length": "0" });
      response.end();
    }
  });

  let finished = false;
  function finish(): void {
    if (finished) return;
    finished = true;
    process.exit(0);
  }

  function forceClose(): void {
    log("warn", LIFETIME, 0, "Shutdown timeout reached: closing the remaining connections.");
    server.closeAllConnections();
    // The close callback normally follows at once; this only guards against a runtime that never calls it.
    setTimeout(finish, 500).unref();
  }

  function shutdown(): void {
    if (shuttingDown) {
      forceClose(); // a second Ctrl+C means "now"
      return;
    }
    shuttingDown = true;
    log("info", LIFETIME, 0, "Application is shutting down...");
    const forceTimer = setTimeout(forceClose, config.shutdownTimeoutMs);
    server.close(() => {
      clearTimeout(forceTimer);
      finish();
    });
    // Idle keep-alive connections carry no request to finish; without this they would hold close() open.
    server.closeIdleConnections();
  }

  // As PID 1 the kernel drops signals that have no handler, so these handlers are what make `docker stop` work.
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  function started(): void {
    const address = server.address();
    const bound = typeof address === "object" && address !== null ? address : { address: "::", port: config.port };
    log("info", LIFETIME, 14, `Now listening on: ${listenUrl(bound.address, bound.port)}`);
    log("info", LIFETIME, 0, "Application started. Press Ctrl+C to shut down.");
    log("info", LIFETIME, 0, `Hosting environment: ${config.environment}`);
    log("info", LIFETIME, 0, `Content root path: ${process.cwd()}`);
  }

  function failed(error: NodeJS.ErrnoException, url: string): void {
    log("crit", "Microsoft.AspNetCore.Server.Kestrel", 0, `Failed to bind to address ${url}: ${error.code ?? error.message}.`);
    process.exitCode = 1;
  }

  // Kestrel's http://[::]:port is dual-stack and falls back to IPv4 where IPv6 is unavailable.
  server.once("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EAFNOSUPPORT" || error.code === "EADDRNOTAVAIL") {
      server.once("error", (retryError: NodeJS.ErrnoException) => failed(retryError, listenUrl("0.0.0.0", config.port)));
      server.listen(config.port, "0.0.0.0", started);
      return;
    }
    failed(error, listenUrl("::", config.port));
  });
  server.listen(config.port, "::", started);
}

try {
  run(readConfig(process.env));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  log("crit", APP, 0, error.message);
  process.exitCode = 1;
}
