/**
 * The seam between the pure app and a runtime's HTTP server. Two hosts implement it:
 * Bun.serve under Bun (what the compiled executable runs) and node:http under Node (what the
 * Node SEA runs). Both were measured; Bun's node:http costs ~50 ms of startup (see README).
 */
import type { TodoApp } from "./app.ts";

export interface HostOptions {
  app: TodoApp;
  port: number;
  hostname: string;
  /** True once shutdown began: responses then say `Connection: close`. */
  isShuttingDown: () => boolean;
  /** A request handler threw; the host has answered 500. */
  onHandlerError: (method: string, target: string, error: unknown) => void;
}

export interface HttpHost {
  /** "bun" or "node", for logs and tests. */
  readonly kind: string;
  readonly address: string;
  readonly port: number;
  /** Stop accepting, close idle connections, resolve once in-flight requests are answered. */
  drain(): Promise<void>;
  /** Cut every remaining connection (the shutdown deadline passed). */
  forceClose(): void;
}

/** Rejections carry the runtime's errno code (EADDRINUSE, EAFNOSUPPORT, …). */
export type StartHost = (options: HostOptions) => Promise<HttpHost>;
