/** The app on node:http: used under Node (and by the Node SEA bundle). */
import type { HostOptions, HttpHost } from "./http-host.ts";

export async function startNodeHost(options: HostOptions): Promise<HttpHost> {
  // Loaded on demand: merely evaluating Bun's node:http costs ~30 ms of startup under Bun,
  // which uses Bun.serve instead. getBuiltinModule (Node >= 20.16) is also what works inside
  // a Node SEA, where import() of the main script's dependencies is not available.
  const { createServer } =
    typeof process.getBuiltinModule === "function" ? process.getBuiltinModule("node:http") : await import("node:http");
  const { app, isShuttingDown, onHandlerError } = options;
  const server = createServer((request, response) => {
    const method = request.method ?? "GET";
    const target = request.url ?? "/";
    try {
      const result = app.handle(method, target);
      // Tell keep-alive clients to leave so the connection can close after this response.
      if (isShuttingDown()) response.setHeader("connection", "close");
      response.writeHead(result.status, result.headers);
      response.end(result.body.byteLength > 0 ? result.body : undefined);
    } catch (error) {
      onHandlerError(method, target, error);
      if (!response.headersSent) response.writeHead(500, { "content-length": "0" });
      response.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const address = server.address();
      const bound = typeof address === "object" && address !== null ? address : { address: options.hostname, port: options.port };
      resolve({
        kind: "node",
        address: bound.address,
        port: bound.port,
        drain: () =>
          new Promise<void>((resolveDrain) => {
            server.close(() => resolveDrain());
            // Idle keep-alive connections carry no request to finish; without this they would hold close() open.
            server.closeIdleConnections();
          }),
        forceClose: () => server.closeAllConnections(),
      });
    });
  });
}
