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
import type { Socket } from "node:net";
import { formatBytes } from "../bytes.ts";
import { UsageError } from "../errors.ts";
import { isTemporaryNetworkError, RegistryError, safeUrl } from "./errors.ts";

export interface Transport {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  /** Idle-socket timeout for one request, ms. */
  readonly timeoutMs: number;
  readonly limits: Required<TransportLimits>;
  readonly userAgent: string;
}

/**
 * An idle timeout alone lets a server that drips one byte at a time hold a request forever, so
 * every request also has an overall bound once it has its socket: small answers (manifests, indexes,
 * tokens, errors) a deadline; bulk transfers (blobs, uploads) a minimum rate over a window.
 */
export interface TransportLimits {
  /** Whole exchange of a small answer, ms (AOTPACK_REGISTRY_DEADLINE_MS). */
  deadlineMs?: number;
  /** Bulk transfers slower than this, bytes/s averaged over `rateWindowMs`, fail (AOTPACK_REGISTRY_MIN_RATE). */
  minBytesPerSecond?: number;
  /** AOTPACK_REGISTRY_RATE_WINDOW_MS */
  rateWindowMs?: number;
}

export const DEFAULT_LIMITS: Required<TransportLimits> = { deadlineMs: 60_000, minBytesPerSecond: 16 * 1024, rateWindowMs: 30_000 };

const LIMIT_ENV: Record<keyof TransportLimits, string> = {
  deadlineMs: "AOTPACK_REGISTRY_DEADLINE_MS",
  minBytesPerSecond: "AOTPACK_REGISTRY_MIN_RATE",
  rateWindowMs: "AOTPACK_REGISTRY_RATE_WINDOW_MS",
};

/** The limits the environment sets (only those it sets). */
export function transportLimits(env: NodeJS.ProcessEnv): TransportLimits {
  const out: TransportLimits = {};
  for (const [key, name] of Object.entries(LIMIT_ENV) as [keyof TransportLimits, string][]) {
    const v = env[name];
    if (v === undefined || v === "") continue;
    if (!/^\d+$/.test(v) || Number(v) <= 0) throw new UsageError(`${name} must be a whole number above 0 (got "${v}")`);
    out[key] = Number(v);
  }
  return out;
}

export function makeTransport(options: { verifyTls?: boolean; timeoutMs?: number; userAgent?: string; maxSockets?: number; limits?: TransportLimits } = {}): Transport {
  const maxSockets = options.maxSockets ?? 16;
  return {
    httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
    httpsAgent: new https.Agent({ keepAlive: true, maxSockets, rejectUnauthorized: options.verifyTls ?? true }),
    timeoutMs: options.timeoutMs ?? 60_000,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
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
  /** A blob or an upload: held to the minimum rate rather than the deadline. */
  bulk?: boolean;
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
    let response: IncomingMessage | undefined;
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
        response = res;
        // Errors while the body streams (a connection cut mid-response) reach the consumer.
        res.on("aborted", () => res.destroy(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })));
        resolve(res);
      },
    );
    req.setTimeout(transport.timeoutMs, () => {
      req.destroy(Object.assign(new Error(`no data for ${transport.timeoutMs} ms: timed out`), { code: "ETIMEDOUT" }));
    });
    // The bound starts once the request has a socket: waiting for a free one in the pool is not the server's doing.
    // An upload's answer is small: once its body is out, the wait for that answer is held to the deadline
    // (the rate floor would count a registry's silence while it commits the blob as a stall).
    let socket: Socket | undefined;
    let bodySent = false;
    let stop = (): void => undefined;
    const hold = (): void => {
      stop();
      stop = holdToLimits(transport.limits, opts.bulk === true && !(bodySent && opts.body !== undefined), socket!, method, url, (err) => {
        // The response first: its consumer sees this error, not the hang-up that destroying the request causes.
        response?.destroy(err);
        req.destroy(err);
      });
    };
    req.once("socket", (s) => {
      socket = s;
      hold();
    });
    req.once("finish", () => {
      bodySent = true;
      if (socket && opts.bulk && opts.body !== undefined) hold();
    });
    req.once("close", () => stop());
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

/** Starts the deadline (small answers) or the rate check (bulk) of one exchange; returns its stop. */
function holdToLimits(limits: Required<TransportLimits>, bulk: boolean, socket: Socket, method: string, url: URL, abort: (err: RegistryError) => void): () => void {
  if (!bulk) {
    const timer = setTimeout(() => {
      abort(
        new RegistryError(`${method} ${safeUrl(url)}: no complete answer within ${seconds(limits.deadlineMs)} s`, {
          method,
          url: safeUrl(url),
          // The same server, asked again, drips again.
          temporary: false,
          hint: `the registry answers too slowly; AOTPACK_REGISTRY_DEADLINE_MS (default ${DEFAULT_LIMITS.deadlineMs}) allows more`,
        }),
      );
    }, limits.deadlineMs);
    return () => clearTimeout(timer);
  }
  // Both directions count: a download reads, an upload writes. A keep-alive socket's counters start where the last exchange left them.
  const moved = (): number => socket.bytesRead + socket.bytesWritten;
  let last = moved();
  const floor = (limits.minBytesPerSecond * limits.rateWindowMs) / 1000;
  const timer = setInterval(() => {
    const now = moved();
    if (now - last < floor) {
      abort(
        new RegistryError(`${method} ${safeUrl(url)}: slower than ${formatBytes(limits.minBytesPerSecond)}/s over ${seconds(limits.rateWindowMs)} s`, {
          method,
          url: safeUrl(url),
          // A stalled path often recovers on a new connection, as after an idle timeout.
          temporary: true,
          hint: `AOTPACK_REGISTRY_MIN_RATE (bytes/s, default ${DEFAULT_LIMITS.minBytesPerSecond}) and AOTPACK_REGISTRY_RATE_WINDOW_MS set the floor`,
        }),
      );
    }
    last = now;
  }, limits.rateWindowMs);
  return () => clearInterval(timer);
}

/** 60000 → "60", 200 → "0.2". */
function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
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

/** What one retry loop remembers across its attempts. */
export interface RetryState {
  /** A Retry-After over the cap was already shortened once. */
  capped?: boolean;
}

/**
 * The wait before attempt `attempt` after `err`. A Retry-After is said (it can be a long silence)
 * and capped at `maxRetryAfterMs`; a registry that asks for more than the cap a second time is
 * not going to serve us soon: the error is thrown, saying what it asked.
 */
export function retryWait(attempt: number, opts: Required<RetryOptions>, err: RegistryError, state: RetryState, notify?: (message: string) => void): number {
  const asked = err.retryAfterMs;
  if (asked === undefined) return backoffDelay(attempt, opts);
  const over = asked > opts.maxRetryAfterMs;
  if (over && state.capped) {
    throw new RegistryError(`${err.message}; it asks to retry in ${seconds(asked)} s, longer than aotpack waits (${seconds(opts.maxRetryAfterMs)} s)`, {
      method: err.method,
      url: err.url,
      ...(err.status === undefined ? {} : { status: err.status }),
      codes: err.codes,
      temporary: false,
      retryAfterMs: asked,
      hint: "try again later",
      cause: err,
    });
  }
  if (over) state.capped = true;
  notify?.(`${hostOfUrl(err.url)} asks to retry in ${seconds(asked)} s${over ? ` (capped at ${seconds(opts.maxRetryAfterMs)} s)` : ""}`);
  return backoffDelay(attempt, opts, asked);
}

function hostOfUrl(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the registry";
  }
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

/** Run `step` again on temporary RegistryErrors. Every step we retry is idempotent. `notify` hears of long waits. */
export async function withRetry<T>(step: (attempt: number) => Promise<T>, options: RetryOptions = {}, notify?: (message: string) => void): Promise<T> {
  if (insideRetry.getStore()) return step(0);
  const opts = { ...DEFAULT_RETRY, ...options };
  const state: RetryState = {};
  for (let attempt = 0; ; attempt++) {
    try {
      return await retryScope(() => step(attempt));
    } catch (err) {
      if (!(err instanceof RegistryError) || !err.temporary || attempt >= opts.retries) throw err;
      await sleep(retryWait(attempt + 1, opts, err, state, notify));
    }
  }
}
