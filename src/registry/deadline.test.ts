/**
 * A registry cannot stall a command: small answers (manifests, tokens) have an overall deadline,
 * blobs a minimum transfer rate, and a long Retry-After is capped, said, and honoured once.
 * Hostile registries here are real HTTP servers on 127.0.0.1 that drip one byte at a time.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { sha256 } from "../oci/digest.ts";
import { MediaType } from "../oci/media-types.ts";
import { runCli } from "../../test/support/cli.ts";
import { RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256("{}"), size: 2 }, layers: [] }));
const FAST = { baseDelayMs: 1, maxDelayMs: 5 };

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: TestContext, handler: Handler): Promise<{ host: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { host: `127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`, seen };
}

/** Headers at once, then `body` one byte every 200 ms: each byte resets any idle timeout. */
function drip(res: ServerResponse, body: Buffer, contentType: string): void {
  res.writeHead(200, { "Content-Type": contentType, "Content-Length": String(body.length) });
  res.flushHeaders();
  let i = 0;
  const timer = setInterval(() => {
    if (i < body.length) res.write(body.subarray(i, ++i));
    else {
      clearInterval(timer);
      res.end();
    }
  }, 200);
  res.on("close", () => clearInterval(timer));
}

test("a manifest that drips one byte every 200 ms fails at the overall deadline, not retried", { timeout: 30_000 }, async (t) => {
  const reg = await serve(t, (_req, res) => drip(res, MANIFEST, MediaType.OciManifest));
  const client = new RegistryClient(reg.host, { credentials: null, retry: FAST, deadlineMs: 1000 });
  t.after(() => client.close());
  await assert.rejects(client.getManifest("x", "y"), (err: unknown) => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.match(err.message, /^GET http:\/\/127\.0\.0\.1:\d+\/v2\/x\/manifests\/y: no complete answer within 1 s$/);
    assert.equal(err.temporary, false);
    assert.match(err.hint ?? "", /AOTPACK_REGISTRY_DEADLINE_MS/);
    return true;
  });
  assert.equal(reg.seen.length, 1, "a deadline is not retried");
});

test("a blob that drips below the minimum rate fails (retried within the budget); a fast one passes", { timeout: 30_000 }, async (t) => {
  const blob = Buffer.alloc(64 * 1024, 7);
  const digest = sha256(blob);
  const reg = await serve(t, (req, res) => {
    if (req.url?.includes("/slow/")) drip(res, blob, "application/octet-stream");
    else res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(blob.length) }).end(blob);
  });
  const dir = await mkdtemp(join(tmpdir(), "aotpack-rate-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const client = new RegistryClient(reg.host, { credentials: null, retry: { ...FAST, retries: 1 }, minBytesPerSecond: 4096, rateWindowMs: 1000 });
  t.after(() => client.close());
  await client.fetchBlobToFile("fast", digest, blob.length, join(dir, "fast"));
  await assert.rejects(client.fetchBlobToFile("slow", digest, blob.length, join(dir, "slow")), (err: unknown) => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.match(err.message, /\/v2\/slow\/blobs\/sha256:[0-9a-f]{64}: slower than 4\.00 KiB\/s over 1 s$/);
    return true;
  });
  assert.equal(reg.seen.filter((s) => s.includes("/slow/")).length, 2, "one retry, then the error");
});

test("limits come from the environment, and a bad value is a usage error", async () => {
  const { transportLimits } = await import("./http.ts");
  assert.deepEqual(transportLimits({ AOTPACK_REGISTRY_DEADLINE_MS: "1500", AOTPACK_REGISTRY_MIN_RATE: "100", AOTPACK_REGISTRY_RATE_WINDOW_MS: "2000" }), { deadlineMs: 1500, minBytesPerSecond: 100, rateWindowMs: 2000 });
  assert.deepEqual(transportLimits({}), {});
  assert.throws(() => transportLimits({ AOTPACK_REGISTRY_DEADLINE_MS: "soon" }), /AOTPACK_REGISTRY_DEADLINE_MS must be a whole number above 0 \(got "soon"\)/);
});

test("Retry-After: 999999 is capped and said; a second one over the cap gives up", { timeout: 30_000 }, async (t) => {
  let busy = 1;
  const reg = await serve(t, (req, res) => {
    if (req.url?.includes("/always/") || busy-- > 0) res.writeHead(503, { "Retry-After": "999999", "Content-Type": "application/json" }).end('{"errors":[{"code":"UNAVAILABLE"}]}');
    else res.writeHead(200, { "Content-Type": MediaType.OciManifest }).end(MANIFEST);
  });
  const said: string[] = [];
  const client = new RegistryClient(reg.host, { credentials: null, retry: { ...FAST, maxRetryAfterMs: 200 }, onWarning: (m) => said.push(m) });
  t.after(() => client.close());
  assert.equal((await client.getManifest("once", "v1")).digest, sha256(MANIFEST));
  assert.deepEqual(said, [`${reg.host} asks to retry in 999999 s (capped at 0.2 s)`]);
  await assert.rejects(client.getManifest("always", "v1"), (err: unknown) => {
    assert.ok(err instanceof RegistryError);
    assert.equal(err.status, 503);
    assert.match(err.message, /503 UNAVAILABLE; it asks to retry in 999999 s, longer than aotpack waits \(0\.2 s\)$/);
    return true;
  });
  assert.equal(reg.seen.filter((s) => s.includes("/always/")).length, 2, "one capped wait, not five");
});

test("aotpack inspect of a dripping registry ends at AOTPACK_REGISTRY_DEADLINE_MS with a one-line error", { timeout: 60_000 }, async (t) => {
  const reg = await serve(t, (_req, res) => drip(res, MANIFEST, MediaType.OciManifest));
  const cache = await mkdtemp(join(tmpdir(), "aotpack-deadline-cache-"));
  t.after(() => rm(cache, { recursive: true, force: true }));
  const r = await runCli(["inspect", `registry:${reg.host}/x:y`], { env: { AOTPACK_REGISTRY_DEADLINE_MS: "1000", AOTPACK_CACHE_DIR: cache }, timeoutMs: 50_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^aotpack: error: GET http:\/\/127\.0\.0\.1:\d+\/v2\/x\/manifests\/y: no complete answer within 1 s\nhint: .*AOTPACK_REGISTRY_DEADLINE_MS/m);
});

test("an upload's answer is held to the deadline once its body is sent (the rate floor only covers the transfer)", { timeout: 20_000 }, async (t) => {
  const blob = Buffer.alloc(1024, 1);
  const reg = await serve(t, (req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.method === "HEAD") res.writeHead(404).end();
      else if (req.method === "POST") res.writeHead(202, { Location: "/v2/x/blobs/uploads/session" }).end();
      else {
        // The body arrived; the status line and headers drip, one byte every 200 ms.
        const raw = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let i = 0;
        const timer = setInterval(() => (i < raw.length ? req.socket.write(raw[i++]!) : clearInterval(timer)), 200);
        req.socket.on("close", () => clearInterval(timer));
      }
    });
  });
  const client = new RegistryClient(reg.host, { credentials: null, retry: FAST, deadlineMs: 1000 });
  t.after(() => client.close());
  await assert.rejects(client.uploadBlob("x", { digest: sha256(blob), size: blob.length, open: async () => Readable.from([blob]) }), /PUT http:\/\/127\.0\.0\.1:\d+\/v2\/x\/blobs\/uploads\/session: no complete answer within 1 s/);
});
