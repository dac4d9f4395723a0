/**
 * Credentials against a hostile registry (docs/decisions.md, "Credentials under a written policy"):
 * never to a token realm that carries userinfo, never from an https registry to a plain-http realm,
 * and a token asks only for the scopes the operation needs, whatever the challenge asks.
 * Real parts: our token server (src/registry/testing/token-server.ts) and fake registries on loopback.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { sha256 } from "../oci/digest.ts";
import { MediaType } from "../oci/media-types.ts";
import { RegistryClient } from "./client.ts";
import { startTokenServer, type TokenServer } from "./testing/token-server.ts";

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256("{}"), size: 2 }, layers: [] }));
const ALICE = { username: "alice", password: "s3cret-pw" };
const FAST = { baseDelayMs: 1, maxDelayMs: 5 };

async function tokens(t: TestContext): Promise<TokenServer> {
  const server = await startTokenServer({ users: { [ALICE.username]: ALICE.password } });
  t.after(() => server.stop());
  return server;
}

/** A registry that answers 401 with `challenge` until a Bearer token comes, then the manifest. */
function registryHandler(challenge: () => string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (!req.headers.authorization?.startsWith("Bearer ")) {
      res.writeHead(401, { "WWW-Authenticate": challenge(), "Content-Type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    res.writeHead(200, { "Content-Type": MediaType.OciManifest }).end(MANIFEST);
  };
}

async function listen(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const addr = server.address();
  return typeof addr === "object" && addr ? addr.port : 0;
}

test("a token realm carrying its own userinfo gets nothing: no request, no credentials, a clear error", async (t) => {
  const token = await tokens(t);
  const withUserinfo = token.realm.replace("http://", "http://evil:pw@");
  const port = await listen(t, createHttpServer(registryHandler(() => `Bearer realm="${withUserinfo}",service="${token.service}"`)));
  const client = new RegistryClient(`127.0.0.1:${port}`, { credentials: ALICE, retry: FAST });
  t.after(() => client.close());
  await assert.rejects(client.getManifest("team/app", "v1"), (err: unknown) => {
    assert.ok(err instanceof AotpackError);
    assert.match(err.message, /named a token realm with a user name or password in it \(http:\/\/127\.0\.0\.1:\d+\/token\)/);
    assert.ok(!err.message.includes("evil") && !err.message.includes(":pw@"), "the realm's userinfo is not repeated");
    return true;
  });
  assert.deepEqual(token.requests, [], "the realm was never asked, so it saw no Authorization header");
});

test("an https registry naming a plain-http realm is refused: credentials never go over http", async (t) => {
  const token = await tokens(t);
  const dir = await mkdtemp(join(tmpdir(), "aotpack-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"], { stdio: "ignore" });
  const tls = { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) };
  const port = await listen(t, createHttpsServer(tls, registryHandler(() => `Bearer realm="${token.realm}",service="${token.service}"`)));
  // `127.1` is 127.0.0.1 to the resolver, but not a name aotpack treats as loopback: the client speaks https
  // (TLS unverified: the certificate is self-signed).
  const registry = `127.1:${port}`;
  const client = new RegistryClient(registry, { credentials: ALICE, insecureRegistries: [registry], retry: FAST });
  t.after(() => client.close());
  assert.equal(client.url("/").protocol, "https:");
  await assert.rejects(client.getManifest("team/app", "v1"), /is reached over https but named a plain-http token realm \(http:\/\/127\.0\.0\.1:\d+\/token\)/);
  assert.deepEqual(token.requests, [], "nothing was sent to the http realm");
});

test("a challenge asking for wider scopes gets a token for the operation's scope only, with a warning", async (t) => {
  const token = await tokens(t);
  const wide = "repository:*:* registry:catalog:* repository:other/repo:pull repository:team/app:pull,push,delete";
  const port = await listen(t, createHttpServer(registryHandler(() => `Bearer realm="${token.realm}",service="${token.service}",scope="${wide}"`)));
  const said: string[] = [];
  const client = new RegistryClient(`127.0.0.1:${port}`, { credentials: ALICE, retry: FAST, onWarning: (m) => said.push(m) });
  t.after(() => client.close());
  assert.equal((await client.getManifest("team/app", "v1")).digest, sha256(MANIFEST));
  assert.deepEqual(token.requests, [{ scopes: ["repository:team/app:pull"], user: "alice" }]);
  assert.equal(said.length, 1, said.join("\n"));
  assert.match(said[0]!, /asked for token scopes beyond what GET needs \(registry:catalog:\*, repository:\*:\*, repository:other\/repo:pull, repository:team\/app:delete,push\); asking for repository:team\/app:pull only/);
});

test("realm policy: userinfo refused; https → http refused; another host or port allowed (as Docker and containerd)", async () => {
  const { tokenRealm } = await import("./auth.ts");
  assert.throws(() => tokenRealm("https://u:p@auth.example/token", "reg.example", "https"), /user name or password/);
  assert.throws(() => tokenRealm("https://u@auth.example/token", "reg.example", "https"), /user name or password/);
  assert.throws(() => tokenRealm("http://auth.example/token", "reg.example", "https"), /plain-http token realm/);
  assert.throws(() => tokenRealm("ftp://auth.example/token", "reg.example", "https"), /not an http\(s\) URL/);
  assert.throws(() => tokenRealm("not a url", "reg.example", "https"), /invalid token realm/);
  assert.equal(tokenRealm("https://auth.docker.io/token", "docker.io", "https").host, "auth.docker.io");
  assert.equal(tokenRealm("https://reg.example:5001/token", "reg.example:5000", "https").port, "5001");
  assert.equal(tokenRealm("http://127.0.0.1:9/token", "127.0.0.1:5000", "http").protocol, "http:");
});
