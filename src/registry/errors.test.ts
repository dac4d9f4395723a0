import { test } from "node:test";
import assert from "node:assert/strict";
import { parseErrorCodes, parseRetryAfter, RegistryError, safeUrl, isTemporaryNetworkError, isTemporaryStatus } from "./errors.ts";
import { backoffDelay, DEFAULT_RETRY, withRetry } from "./http.ts";
import { AotpackError } from "../errors.ts";

test("safeUrl drops credentials and opaque query state", () => {
  assert.equal(safeUrl("https://user:pa55@reg.example/v2/a/blobs/uploads/x?_state=abc&digest=sha256:1"), "https://reg.example/v2/a/blobs/uploads/x");
});

test("Retry-After: seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
});

test("OCI error bodies give codes; junk gives none", () => {
  assert.deepEqual(parseErrorCodes('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"},{"code":"DENIED"}]}'), { codes: ["BLOB_UNKNOWN", "DENIED"], messages: ["blob unknown"] });
  assert.deepEqual(parseErrorCodes("<html>"), { codes: [], messages: [] });
});

test("temporary: 429, 5xx, resets, timeouts; not 4xx or refusals", () => {
  for (const s of [429, 500, 502, 503, 504]) assert.equal(isTemporaryStatus(s), true, String(s));
  for (const s of [400, 401, 403, 404]) assert.equal(isTemporaryStatus(s), false, String(s));
  assert.equal(isTemporaryNetworkError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })), true);
  assert.equal(isTemporaryNetworkError(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })), true);
  assert.equal(isTemporaryNetworkError(new Error("socket hang up")), true);
  assert.equal(isTemporaryNetworkError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })), false);
});

test("backoff is capped, jittered, and Retry-After wins (itself capped)", () => {
  const opts = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };
  for (let attempt = 1; attempt < 12; attempt++) {
    const lo = backoffDelay(attempt, opts, undefined, () => 0);
    const hi = backoffDelay(attempt, opts, undefined, () => 0.999999);
    const cap = Math.min(1000, 100 * 2 ** (attempt - 1));
    assert.ok(lo >= cap / 2 && hi <= cap, `attempt ${attempt}: ${lo}..${hi} within ${cap}`);
  }
  assert.equal(backoffDelay(1, opts, 2000), 2000);
  assert.equal(backoffDelay(1, opts, 3_600_000), 5000);
});

test("withRetry retries temporary RegistryErrors only, up to the limit", async () => {
  let calls = 0;
  const temp = () => new RegistryError("x", { method: "GET", url: "u", status: 503, temporary: true });
  assert.equal(await withRetry(async () => (++calls < 3 ? Promise.reject(temp()) : "ok"), { baseDelayMs: 1, maxDelayMs: 2 }), "ok");
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw temp(); }, { retries: 2, baseDelayMs: 1, maxDelayMs: 2 }), RegistryError);
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new AotpackError("permanent"); }, { baseDelayMs: 1 }), /permanent/);
  assert.equal(calls, 1);
});
