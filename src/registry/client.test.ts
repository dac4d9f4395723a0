/** Protocol edge cases against a small fake registry (the real one cannot be made to do these). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { sha256 } from "../oci/digest.ts";
import { MediaType } from "../oci/media-types.ts";
import { RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function fake(handler: Handler): Promise<{ host: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => handler(req, res, new URL(req.url ?? "/", "http://x")));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256("{}"), size: 2 }, layers: [] }));
const FAST = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };

test("bearer: token cached per scope; a 401 asking a wider scope than the operation needs gets no wider token", async () => {
  const tokenRequests: string[][] = [];
  let host = "";
  const server = await fake((req, res, url) => {
    if (url.pathname === "/token") {
      const scopes = url.searchParams.getAll("scope").sort();
      tokenRequests.push(scopes);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: `tok ${scopes.join(" ")}`, expires_in: 300 }));
      return;
    }
    const m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname);
    // `special` demands push on a pull: the client never asks for more than the operation needs.
    const need = m ? [`repository:${m[1]}:${m[2] === "special" ? "pull,push" : "pull"}`] : [];
    const token = (req.headers.authorization ?? "").replace(/^Bearer tok /, "").split(" ");
    if (!req.headers.authorization?.startsWith("Bearer ") || !need.every((s) => token.includes(s))) {
      res.writeHead(401, {
        "WWW-Authenticate": `Bearer realm="http://${host}/token",service="fake",scope="${need.join(" ")}"${req.headers.authorization ? ',error="insufficient_scope"' : ""}`,
        "Content-Type": "application/json",
      }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    res.writeHead(200, { "Content-Type": MediaType.OciManifest, "Docker-Content-Digest": sha256(MANIFEST) }).end(MANIFEST);
  });
  host = server.host;
  const client = new RegistryClient(server.host, { credentials: null, ...FAST });
  try {
    const m = await client.getManifest("team/app", "v1");
    assert.equal(m.digest, sha256(MANIFEST));
    assert.equal(m.mediaType, MediaType.OciManifest);
    await client.getManifest("team/app", "v2");
    assert.deepEqual(tokenRequests, [["repository:team/app:pull"]], "second request reuses the cached token");
    await assert.rejects(client.getManifest("team/app", "special"), /unauthorized/);
    assert.ok(tokenRequests.every((scopes) => scopes.join(" ") === "repository:team/app:pull"), JSON.stringify(tokenRequests));
  } finally {
    client.close();
    await server.stop();
  }
});

test("temporary failures are retried (Retry-After honoured); permanent ones are not and carry their OCI codes", async () => {
  const seen: string[] = [];
  const server = await fake((req, res, url) => {
    seen.push(url.pathname);
    const n = seen.filter((p) => p === url.pathname).length;
    if (url.pathname.endsWith("/flaky") && n === 1) {
      res.writeHead(503, { "Content-Type": "application/json" }).end('{"errors":[{"code":"UNAVAILABLE"}]}');
    } else if (url.pathname.endsWith("/busy") && n === 1) {
      res.writeHead(429, { "Retry-After": "0" }).end();
    } else if (url.pathname.endsWith("/reset") && n === 1) {
      req.socket.destroy();
    } else if (url.pathname.endsWith("/bad")) {
      res.writeHead(400, { "Content-Type": "application/json" }).end('{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}');
    } else {
      res.writeHead(200, { "Content-Type": MediaType.OciManifest }).end(MANIFEST);
    }
  });
  const client = new RegistryClient(server.host, { credentials: null, ...FAST });
  try {
    for (const ref of ["flaky", "busy", "reset"]) assert.equal((await client.getManifest("a", ref)).digest, sha256(MANIFEST), ref);
    assert.equal(seen.filter((p) => p.endsWith("/flaky")).length, 2);
    assert.equal(seen.filter((p) => p.endsWith("/reset")).length, 2);
    await assert.rejects(client.getManifest("a", "bad"), (err: unknown) => {
      assert.ok(err instanceof RegistryError);
      assert.equal(err.status, 400);
      assert.deepEqual(err.codes, ["MANIFEST_INVALID"]);
      assert.equal(err.temporary, false);
      assert.equal(err.method, "GET");
      assert.equal(err.url, `http://${server.host}/v2/a/manifests/bad`);
      assert.equal(err.message, `GET http://${server.host}/v2/a/manifests/bad: 400 MANIFEST_INVALID: manifest invalid`);
      return true;
    });
    assert.equal(seen.filter((p) => p.endsWith("/bad")).length, 1);
  } finally {
    client.close();
    await server.stop();
  }
});

test("a manifest fetched by digest must hash to it", async () => {
  const server = await fake((_req, res) => res.writeHead(200, { "Content-Type": MediaType.OciManifest }).end(MANIFEST));
  const client = new RegistryClient(server.host, { credentials: null, ...FAST });
  try {
    const other = sha256("something else");
    await assert.rejects(client.getManifest("a", other), /sent content with digest/);
  } finally {
    client.close();
    await server.stop();
  }
});

test("unreachable registry: a clear, permanent error", async () => {
  const server = await fake(() => undefined);
  const host = server.host;
  await server.stop();
  const client = new RegistryClient(host, { credentials: null, ...FAST });
  try {
    await assert.rejects(client.getManifest("a", "b"), (err: unknown) => err instanceof RegistryError && !err.temporary && /connection refused by 127\.0\.0\.1/.test(err.message));
  } finally {
    client.close();
  }
});

test("a server that always answers 503 gets exactly retries + 1 requests per operation (no nested retries)", async () => {
  let requests = 0;
  const server = await fake((_req, res) => {
    requests++;
    res.writeHead(503, { "Content-Type": "application/json" }).end('{"errors":[{"code":"UNAVAILABLE"}]}');
  });
  const retries = 3;
  const client = new RegistryClient(server.host, { credentials: null, retry: { retries, baseDelayMs: 1, maxDelayMs: 2 } });
  const digest = sha256("blob");
  const scratch = await mkdtemp(join(tmpdir(), "aotpack-503-"));
  const operations: Record<string, () => Promise<unknown>> = {
    getManifest: () => client.getManifest("a", "v1"),
    headManifest: () => client.headManifest("a", "v1"),
    blobExists: () => client.blobExists("a", digest),
    blobStream: () => client.blobStream("a", digest, 4),
    fetchBlobToFile: () => client.fetchBlobToFile("a", digest, 4, join(scratch, "blob")),
    uploadBlob: () => client.uploadBlob("a", { digest, size: 4, open: async () => Readable.from([Buffer.from("blob")]) }),
  };
  try {
    for (const [name, run] of Object.entries(operations)) {
      requests = 0;
      await assert.rejects(run(), (err: unknown) => err instanceof RegistryError && err.status === 503, name);
      assert.equal(requests, retries + 1, `${name} sent ${requests} requests`);
    }
  } finally {
    client.close();
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
});

test("an upload whose session POST always answers 503 is attempted exactly retries + 1 times", async () => {
  const posts: string[] = [];
  const server = await fake((req, res) => {
    if (req.method === "POST") {
      posts.push(req.url ?? "");
      res.writeHead(503).end();
    } else res.writeHead(404).end();
  });
  const retries = 2;
  const client = new RegistryClient(server.host, { credentials: null, retry: { retries, baseDelayMs: 1, maxDelayMs: 2 } });
  try {
    const blob = { digest: sha256("blob"), size: 4, open: async () => Readable.from([Buffer.from("blob")]) };
    await assert.rejects(client.uploadBlob("a", blob), (err: unknown) => err instanceof RegistryError && err.status === 503);
    assert.equal(posts.length, retries + 1);
  } finally {
    client.close();
    await server.stop();
  }
});

// Issue 16: credentials go only to the origin they were issued for, whatever a Location names.
const CREDS = { username: "alice", password: "s3cret" };
const BASIC = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;

for (const mode of ["monolithic PUT", "chunked PATCH"] as const) {
  test(`upload Location on another origin gets no Authorization (${mode})`, async () => {
    const seenElsewhere: { method: string; authorization: string | undefined }[] = [];
    const elsewhere = await fake((req, res) => {
      req.resume();
      seenElsewhere.push({ method: req.method ?? "", authorization: req.headers.authorization });
      if (req.method === "PATCH") {
        const len = Number(req.headers["content-length"] ?? 0);
        res.writeHead(202, { Location: req.url ?? "/", Range: `0-${Math.max(0, len - 1)}` }).end();
      } else res.writeHead(201, { "Docker-Content-Digest": new URL(req.url ?? "/", "http://x").searchParams.get("digest") ?? "" }).end();
    });
    const registry = await fake((req, res, url) => {
      if (req.headers.authorization !== BASIC) {
        res.writeHead(401, { "WWW-Authenticate": 'Basic realm="fake"' }).end();
        return;
      }
      if (req.method === "HEAD") res.writeHead(404).end();
      else if (req.method === "POST" && url.pathname === "/v2/team/app/blobs/uploads/") {
        res.writeHead(202, { Location: `http://${elsewhere.host}/upload/session-1` }).end();
      } else res.writeHead(500).end();
    });
    const body = Buffer.alloc(mode === "chunked PATCH" ? 3000 : 100, 7);
    const client = new RegistryClient(registry.host, {
      credentials: CREDS,
      retry: { retries: 0, baseDelayMs: 1, maxDelayMs: 1 },
      ...(mode === "chunked PATCH" ? { monolithicMaxBytes: 1000, chunkBytes: 1024 } : {}),
    });
    try {
      await client.uploadBlob("team/app", { digest: sha256(body), size: body.length, open: async () => Readable.from([body]) }).catch(() => undefined);
      assert.ok(seenElsewhere.length > 0, "the upload went to the Location");
      assert.deepEqual(
        seenElsewhere.filter((s) => s.authorization !== undefined),
        [],
        "no request to the other origin carried the registry's credentials",
      );
    } finally {
      client.close();
      await registry.stop();
      await elsewhere.stop();
    }
  });
}
