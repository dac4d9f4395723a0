/**
 * The transport: node:http(s) rather than global fetch, because uploads stream a file
 * into a request body that must be re-opened on retry, chunked PATCHes write one source
 * stream into several requests, and a dropped connection must surface as a plain
 * ECONNRESET we can classify. Keep-alive agents per registry reuse connections.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { isTemporaryNetworkError, RegistryError, safeUrl } from "./errors.ts";

export interface Transport {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  /** Idle-socket timeout for one request, ms. */
  readonly timeoutMs: number;
  readonly userAgent: string;
}

export function makeTransport(options: { verifyTls?: boolean; timeoutMs?: number; userAgent?: string; maxSockets?: number } = {}): Transport {
  const maxSockets = options.maxSockets ?? 16;
  return {
    httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
    httpsAgent: new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: options.verifyTls ?? true }),
    timeoutMs: options.timeoutMs ?? 60_000,
    userAgent: options.userAgent ?? "aotpack",
  };
}

export function closeTransport(t: Transport): void {
  t.httpAgent.destroy();
  t.httpsAgent.destroy();
}

export interface SendOptions {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A buffer, or a stream opened for this one attempt (its length must be in Content-Length). */
  body?: Buffer | Readable;
}

/**
 * One HTTP exchange. Resolves once response headers arrive; the caller consumes or
 * drains the body. Network failures reject with a RegistryError (temporary when the
 * connection dropped or timed out).
 */
export function send(transport: Transport, opts: SendOptions): Promise<IncomingMessage> {
  const { method, url } = opts;
  const isHttps = url.protocol === "https:";
  const lib = isHttps ? https : http;
  const headers: Record<string, string> = { "User-Agent": transport.userAgent, ...opts.headers };
  if (Buffer.isBuffer(opts.body)) headers["Content-Length"] = String(opts.body.length);
  else if (opts.body === undefined && (method === "PUT" || method === "POST" || method === "PATCH")) headers["Content-Length"] = "0";
  return new Promise<IncomingMessage>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      reject(networkError(method, url, err));
    };
    const req = lib.request(
      url,
      { method, headers, agent: isHttps ? transport.httpsAgent : transport.httpAgent },
      (res) => {
        if (settled) {
          res.resume();
          return;
        }
        settled = true;
        // Errors while the body streams (a connection cut mid-response) reach the consumer.
        res.on("aborted", () => res.destroy(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })));
        resolve(res);
      },
    );
    req.setTimeout(transport.timeoutMs, () => {
      req.destroy(Object.assign(new Error(`no data for ${transport.timeoutMs} ms: timed out`), { code: "ETIMEDOUT" }));
    });
    req.on("error", fail);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      body.on("error", (err) => {
        req.destroy(err);
        fail(err);
      });
      body.pipe(req);
    }
  });
}

const TLS_CODES = /^(EPROTO|ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_CERT_|HOSTNAME_MISMATCH)/;

export function networkError(method: string, url: URL, err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  const e = err as NodeJS.ErrnoException;
  if (url.protocol === "https:" && e.code !== undefined && TLS_CODES.test(e.code)) {
    return new RegistryError(`${method} ${safeUrl(url)}: TLS with ${url.host} failed (${e.code})`, {
      method,
      url: safeUrl(url),
      temporary: false,
      cause: err,
      hint: `if ${url.host} speaks plain HTTP or uses a certificate you trust but the system does not, mark it insecure (--insecure-registry ${url.host})`,
    });
  }
  const temporary = isTemporaryNetworkError(err);
  const what = e.code === "ECONNREFUSED" ? `connection refused by ${url.host}` : e.code === "ENOTFOUND" ? `unknown host ${url.hostname}` : (e.message ?? String(err));
  return new RegistryError(`${method} ${safeUrl(url)}: ${what}`, { method, url: safeUrl(url), temporary, cause: err });
}

/** Read a small response body (error documents, tokens, manifests) with a size cap. */
export async function readBody(res: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        res.destroy();
        throw new RegistryError(`${what}: response larger than ${limit} bytes`, { method: "GET", url: what, temporary: false });
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof RegistryError) throw err;
    // The connection dropped mid-body: worth another try.
    throw new RegistryError(`${what}: connection lost while reading the response`, { method: "GET", url: what, temporary: true, cause: err });
  }
  return Buffer.concat(chunks);
}

/** Discard a body so the keep-alive socket can be reused. Never throws. */
export async function drain(res: IncomingMessage): Promise<void> {
  try {
    for await (const _ of res as AsyncIterable<Buffer>) void _;
  } catch {
    /* a dropped connection while draining changes nothing */
  }
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export interface RetryOptions {
  /** Attempts after the first. */
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Upper bound for a server's Retry-After, so a hostile value cannot stall us for hours. */
  maxRetryAfterMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { retries: 5, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 };

/** Delay before attempt `attempt` (1-based): capped exponential with full jitter, or Retry-After. */
export function backoffDelay(attempt: number, opts: Required<RetryOptions>, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, opts.maxRetryAfterMs);
  const cap = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/**
 * Set while a retry loop runs: a retrying operation that calls another (fetchBlobToFile →
 * blobStream, uploadBlob → blobExists) must not multiply the attempts. Only the outermost loop
 * retries, so a request is sent at most `retries + 1` times in total (as ggcr's retry transport).
 */
const insideRetry = new AsyncLocalStorage<true>();

/** Run `step` inside the caller's retry loop, or as its own loop when there is none. */
export function retryScope<T>(step: () => Promise<T>): Promise<T> {
  return insideRetry.run(true, step);
}

/** Run `step` again on temporary RegistryErrors. Every step we retry is idempotent. */
export async function withRetry<T>(step: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  if (insideRetry.getStore()) return step(0);
  const opts = { ...DEFAULT_RETRY, ...options };
  for (let attempt = 0; ; attempt++) {
    try {
      return await retryScope(() => step(attempt));
    } catch (err) {
      if (!(err instanceof RegistryError) || !err.temporary || attempt >= opts.retries) throw err;
      await sleep(backoffDelay(attempt + 1, opts, err.retryAfterMs));
    }
  }
}
