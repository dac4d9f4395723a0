import { AotpackError } from "../errors.ts";
import { redactUrl } from "../redact.ts";

/** Network error codes that mean "try again": the peer or the path dropped us, not a refusal. */
const TEMPORARY_NET_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
]);

export interface RegistryErrorInit {
  method: string;
  /** Already stripped of credentials (see `safeUrl`). */
  url: string;
  status?: number;
  codes?: string[];
  temporary: boolean;
  /** Milliseconds the server asked us to wait (Retry-After), when it did. */
  retryAfterMs?: number;
  hint?: string;
  cause?: unknown;
}

/**
 * The one error type of the registry client: what was asked (method, URL without
 * credentials), what came back (status, OCI `errors[].code`), and whether retrying
 * can help (`temporary`: 429, 5xx, dropped connections, timeouts).
 */
export class RegistryError extends AotpackError {
  readonly method: string;
  readonly url: string;
  readonly status: number | undefined;
  readonly codes: string[];
  readonly temporary: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, init: RegistryErrorInit) {
    super(message, { hint: init.hint, cause: init.cause });
    this.name = "RegistryError";
    this.method = init.method;
    this.url = init.url;
    this.status = init.status;
    this.codes = init.codes ?? [];
    this.temporary = init.temporary;
    this.retryAfterMs = init.retryAfterMs;
  }
}

/**
 * Whether `err` is about the content asked for (missing, malformed, not matching its digest, too
 * big or too slow) rather than about reaching the registry (network, TLS, 5xx, 429, auth): what a
 * reader of optional content, such as a referrer, may skip with a warning.
 */
export function isContentError(err: unknown): boolean {
  if (err instanceof RegistryError) return !err.temporary && err.status !== 401 && err.status !== 403 && (err.cause as NodeJS.ErrnoException | undefined)?.code === undefined;
  return err instanceof AotpackError;
}

export function isTemporaryStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

export function isTemporaryNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && TEMPORARY_NET_CODES.has(code)) return true;
  return /socket hang up|timed? ?out|premature close|aborted/i.test(err.message);
}

/** A URL fit for messages: no user:password, no query (upload `_state` tokens are opaque and long). */
export function safeUrl(url: URL | string): string {
  return redactUrl(url, { dropQuery: true });
}

/** Retry-After is seconds or an HTTP date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === "") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** OCI distribution error body: `{"errors":[{"code":"BLOB_UNKNOWN","message":"…"}]}`. */
export function parseErrorCodes(body: string): { codes: string[]; messages: string[] } {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const errors = Array.isArray(parsed.errors) ? parsed.errors : [];
    return {
      codes: errors.map((e) => (typeof e.code === "string" ? e.code : "")).filter((c) => c !== ""),
      messages: errors.map((e) => (typeof e.message === "string" ? e.message : "")).filter((m) => m !== ""),
    };
  } catch {
    return { codes: [], messages: [] };
  }
}
