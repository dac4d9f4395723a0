/**
 * A loopback HTTP proxy for tests, in front of a registry: counts requests, and can
 * fail a share of them with 500s, 429s (Retry-After), connections dropped before
 * forwarding, or responses cut after the upstream already did the work.
 * The Host header is passed through, so Location URLs point back at the proxy.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type FaultKind = "500" | "429" | "drop" | "cut" | "413";

export interface SeenRequest {
  method: string;
  path: string;
  /** Path and query as sent. */
  url: string;
  fault?: FaultKind;
}

export interface FaultProxyOptions {
  /** Share of requests to fail, 0..1 (default 0: pass-through). */
  failRate?: number;
  kinds?: FaultKind[];
  /** Never fail the same method+path more than this many times in a row (default 2), so retries can win. */
  maxConsecutive?: number;
  /** Seed of the deterministic PRNG. */
  seed?: number;
  /** Retry-After seconds sent with 429s (default 1). */
  retryAfterSeconds?: number;
  /** Answer 413 to request bodies larger than this (as a body-size-limited proxy does). */
  maxBodyBytes?: number;
}

export interface FaultProxy {
  url: string;
  host: string;
  requests: SeenRequest[];
  /** Fail every request (kind chosen from `kinds`), ignoring `maxConsecutive`. */
  failAll: boolean;
  setFailRate(rate: number): void;
  /** Fail the first request of every method+path with `kind` (deterministic), until reset. */
  failEachOnce(kind: FaultKind): void;
  /** Let `n` more requests through, then fail everything (like failAll). */
  failAfter(n: number): void;
  /** Clear the record and every fault mode; a seed restarts the random fault sequence. */
  reset(seed?: number): void;
  stop(): Promise<void>;
}

/** mulberry32: tiny, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(upstreamPort: number, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  let random = prng(options.seed ?? 42);
  const kinds = options.kinds ?? ["500", "429", "drop", "cut"];
  const maxConsecutive = options.maxConsecutive ?? 2;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  let failRate = options.failRate ?? 0;
  const streak = new Map<string, number>();
  const sockets = new Set<Socket>();
  const state: { failAll: boolean; passBudget: number; eachOnce?: FaultKind } = { failAll: false, passBudget: Infinity };
  const seenKeys = new Set<string>();
  const requests: SeenRequest[] = [];

  const pick = (key: string): FaultKind | undefined => {
    if (state.failAll) return kinds[Math.floor(random() * kinds.length)]!;
    if (state.eachOnce) {
      if (seenKeys.has(key)) return undefined;
      seenKeys.add(key);
      return state.eachOnce;
    }
    if (state.passBudget !== Infinity) {
      if (state.passBudget <= 0) return kinds[Math.floor(random() * kinds.length)]!;
      state.passBudget--;
      return undefined;
    }
    const n = streak.get(key) ?? 0;
    if (failRate > 0 && n < maxConsecutive && random() < failRate) {
      streak.set(key, n + 1);
      return kinds[Math.floor(random() * kinds.length)]!;
    }
    streak.set(key, 0);
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, cut: boolean): void => {
    const up = request(
      { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        if (cut) {
          // The upstream did the work; the client never learns it.
          const length = Number(upRes.headers["content-length"] ?? 0);
          if (length < 2 || req.method === "HEAD") {
            upRes.resume();
            upRes.on("end", () => req.socket.destroy());
            return;
          }
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          res.flushHeaders();
          const half = Math.floor(length / 2);
          let sent = 0;
          const cutNow = (): void => {
            upRes.destroy();
            setImmediate(() => req.socket.destroy());
          };
          upRes.on("data", (chunk: Buffer) => {
            if (sent >= half) return;
            const part = chunk.subarray(0, half - sent);
            sent += part.length;
            res.write(part);
            if (sent >= half) cutNow();
          });
          upRes.on("end", cutNow);
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", () => req.socket.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const key = `${req.method} ${path}`;
    const tooLarge = options.maxBodyBytes !== undefined && Number(req.headers["content-length"] ?? 0) > options.maxBodyBytes;
    const fault: FaultKind | undefined = tooLarge ? "413" : pick(key);
    requests.push({ method: req.method ?? "", path, url: req.url ?? "/", ...(fault ? { fault } : {}) });
    switch (fault) {
      case undefined:
        forward(req, res, false);
        return;
      case "cut":
        forward(req, res, true);
        return;
      case "drop":
        req.socket.destroy();
        return;
      case "413":
        // Read the body first, so the client sees the answer rather than a broken pipe.
        req.resume();
        req.on("end", () => res.writeHead(413, { "Content-Type": "text/plain", Connection: "close" }).end("request entity too large"));
        return;
      case "500":
      case "429": {
        const body = JSON.stringify({ errors: [{ code: fault === "429" ? "TOOMANYREQUESTS" : "UNKNOWN", message: `fault proxy: ${fault}` }] });
        const headers: Record<string, string> = { "Content-Type": "application/json", "Content-Length": String(body.length), Connection: "close" };
        if (fault === "429") headers["Retry-After"] = retryAfter;
        req.resume();
        res.writeHead(Number(fault), headers).end(body);
        return;
      }
    }
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    get failAll() {
      return state.failAll;
    },
    set failAll(v: boolean) {
      state.failAll = v;
    },
    setFailRate: (rate: number) => {
      failRate = rate;
    },
    failEachOnce: (kind: FaultKind) => {
      state.eachOnce = kind;
      seenKeys.clear();
    },
    failAfter: (n: number) => {
      state.passBudget = n;
    },
    reset: (seed?: number) => {
      // A new seed makes the next phase's faults independent of how many requests came before.
      if (seed !== undefined) random = prng(seed);
      requests.length = 0;
      streak.clear();
      state.failAll = false;
      state.passBudget = Infinity;
      state.eachOnce = undefined;
      seenKeys.clear();
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
