/** Issue 16: credentials go only to the origin they were issued for, whatever a Location names. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { sha256 } from "../oci/digest.ts";
import { RegistryClient } from "./client.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function serve(handler: Handler): Promise<{ host: string; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, res, new URL(req.url ?? "/", "http://x")));
  });
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

const CREDS = { username: "alice", password: "s3cret" };
const BASIC = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;

for (const mode of ["monolithic PUT", "chunked PATCH"] as const) {
  test(`upload Location on another origin gets no Authorization (${mode})`, async () => {
    const seenElsewhere: { method: string; authorization: string | undefined }[] = [];
    const elsewhere = await serve((req, res) => {
      seenElsewhere.push({ method: req.method ?? "", authorization: req.headers.authorization });
      if (req.method === "PATCH") {
        const len = Number(req.headers["content-length"] ?? 0);
        res.writeHead(202, { Location: req.url ?? "/", Range: `0-${Math.max(0, len - 1)}` }).end();
      } else res.writeHead(201, { "Docker-Content-Digest": new URL(req.url ?? "/", "http://x").searchParams.get("digest") ?? "" }).end();
    });
    const registry = await serve((req, res, url) => {
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
