/** The app on Bun.serve: used whenever the runtime is Bun, including the compiled executable. */
import type { HostOptions, HttpHost } from "./http-host.ts";

/** The part of Bun's API this file uses; typed here because the repo's tsconfig only has node types. */
interface BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
}
export interface BunRuntime {
  serve(options: {
    port: number;
    hostname: string;
    fetch: (request: Request) => Response;
    error: (error: Error) => Response;
  }): BunServer;
}

/** Bun's global when running under Bun, else undefined (Node). */
export function bunRuntime(): BunRuntime | undefined {
  return (globalThis as { Bun?: BunRuntime }).Bun;
}

/** "http://host:port/path?q" → "/path?q" (Bun hands the handler an absolute URL). */
function requestTarget(url: string): string {
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  return pathStart < 0 ? "/" : url.slice(pathStart);
}

export function startBunHost(bun: BunRuntime, options: HostOptions): Promise<HttpHost> {
  const { app, isShuttingDown, onHandlerError } = options;
  const internalError = (): Response => new Response(null, { status: 500, headers: { "content-length": "0" } });
  try {
    const server = bun.serve({
      port: options.port,
      hostname: options.hostname,
      fetch(request) {
        const target = requestTarget(request.url);
        try {
          const result = app.handle(request.method, target);
          const headers = isShuttingDown() ? { ...result.headers, connection: "close" } : result.headers;
          const body = result.body.byteLength > 0 ? (result.body as Uint8Array<ArrayBuffer>) : null;
          return new Response(body, { status: result.status, headers });
        } catch (error) {
          onHandlerError(request.method, target, error);
          return internalError();
        }
      },
      error: internalError,
    });
    return Promise.resolve({
      kind: "bun",
      address: options.hostname,
      port: server.port,
      // stop() without force: no new connections, idle ones closed, in-flight requests answered.
      drain: () => server.stop(),
      forceClose: () => void server.stop(true),
    });
  } catch (error) {
    return Promise.reject(error); // Bun.serve throws synchronously, e.g. EADDRINUSE
  }
}
