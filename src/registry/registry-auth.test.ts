/** Auth modes against a real registry: none, htpasswd Basic, token (with our test token server). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validate } from "../oci/validate.ts";
import { REGISTRY_BIN, requireTools, startRegistry, type RegistryAuth, type TestRegistry } from "../../test/support/index.ts";
import { RegistryClient, type RegistryClientOptions } from "./client.ts";
import { RegistryError } from "./errors.ts";
import { push } from "./publisher.ts";
import { remoteIndex } from "./remote.ts";
import { startTokenServer, type TokenServer } from "./testing/token-server.ts";
import { twoPlatformIndex } from "./testing/fixtures.ts";

const USER = "alice";
const PASSWORD = "correct-horse-battery";
const WRONG = "wrong-Pa55word-zq9";

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), "aotpack-regauth-"));
}

/** A DOCKER_CONFIG dir whose config.json has `auths` for `host`. */
async function dockerConfig(dir: string, host: string, password: string): Promise<NodeJS.ProcessEnv> {
  await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${USER}:${password}`).toString("base64") } } }));
  return { ...process.env, DOCKER_CONFIG: dir };
}

/** The tag as the registry reports it to a client with good credentials. */
async function tagDigest(host: string, repo: string, tag: string, options: RegistryClientOptions): Promise<string | undefined> {
  const client = new RegistryClient(host, options);
  try {
    return (await client.headManifest(repo, tag))?.digest;
  } finally {
    client.close();
  }
}

/** The shared scenario: good credentials push and pull; wrong ones fail clearly and tag nothing. */
async function scenario(registry: TestRegistry, dir: string, tokens?: TokenServer): Promise<void> {
  const good = await dockerConfig(await mkdtemp(join(dir, "good-")), registry.host, PASSWORD);
  const bad = await dockerConfig(await mkdtemp(join(dir, "bad-")), registry.host, WRONG);
  const index = await twoPlatformIndex(join(dir, "build"), { seed: `auth-${tokens ? "token" : "basic"}` });

  // Credentials come from config.json (DOCKER_CONFIG), as a user's would.
  const result = await push(index, `${registry.host}/auth/app:v1`, { env: good });
  assert.equal(result.digest, await index.digest());
  const pulled = await remoteIndex(`${registry.host}/auth/app:v1`, { env: good, blobDir: join(dir, "cache") });
  await validate(pulled);
  assert.equal(await pulled.digest(), await index.digest());

  // The same credentials through a credential helper (credHelpers → docker-credential-NAME on PATH).
  const helperDir = await mkdtemp(join(dir, "helper-"));
  await writeFile(join(helperDir, "config.json"), JSON.stringify({ credHelpers: { [registry.host]: "aotpacktest" } }));
  await writeFile(join(helperDir, "docker-credential-aotpacktest"), `#!/bin/sh\nread server\n[ "$server" = "${registry.host}" ] || { echo "credentials not found"; exit 1; }\necho '{"Username":"${USER}","Secret":"${PASSWORD}"}'\n`, { mode: 0o755 });
  const viaHelper = { ...process.env, DOCKER_CONFIG: helperDir, PATH: `${helperDir}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  assert.equal((await push(index, `${registry.host}/auth/helper:v1`, { env: viaHelper })).digest, await index.digest());

  const other = await twoPlatformIndex(join(dir, "build2"), { seed: "never-tagged" });
  for (const [label, env, expected] of [
    ["wrong password", bad, `unauthorized: ${registry.host} rejected the credentials for auth/app`],
    ["anonymous", { ...process.env, DOCKER_CONFIG: join(dir, "nothing-here") }, `unauthorized: ${registry.host} requires credentials for auth/app`],
  ] as const) {
    await assert.rejects(push(other, `${registry.host}/auth/app:v1`, { env }), (err: unknown) => {
      assert.ok(err instanceof RegistryError, `${label}: ${String(err)}`);
      assert.equal(err.message, expected, label);
      assert.equal(err.temporary, false);
      assert.equal(err.codes.includes("UNAUTHORIZED"), true);
      const everything = `${err.message} ${err.hint ?? ""} ${err.url} ${err.stack ?? ""} ${JSON.stringify(err)}`;
      for (const secret of [WRONG, PASSWORD, Buffer.from(`${USER}:${WRONG}`).toString("base64")]) {
        assert.ok(!everything.includes(secret), `${label}: a credential leaked into the error`);
      }
      return true;
    });
    assert.equal(await tagDigest(registry.host, "auth/app", "v1", { env: good }), await index.digest(), `${label}: the tag did not move`);
  }
  // The rejected image's manifests never got in either.
  assert.equal(await tagDigest(registry.host, "auth/app", await other.digest(), { env: good }), undefined);
}

test("no auth: anonymous push and pull", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  const registry = await startRegistry();
  const dir = await scratch();
  try {
    const index = await twoPlatformIndex(join(dir, "build"), { seed: "anon" });
    const result = await push(index, `${registry.host}/anon/app:v1`, { credentials: null });
    assert.equal(result.digest, await index.digest());
    const pulled = await remoteIndex(`${registry.host}/anon/app:v1`, { credentials: null, blobDir: join(dir, "cache") });
    await validate(pulled);
    assert.equal(await pulled.digest(), result.digest);
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("htpasswd Basic auth: config.json credentials work; wrong or missing ones are a clear unauthorized and tag nothing", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN, "htpasswd"])) return;
  const auth: RegistryAuth = { kind: "htpasswd", users: { [USER]: PASSWORD } };
  const registry = await startRegistry({ auth });
  const dir = await scratch();
  try {
    await scenario(registry, dir);
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("token auth: bearer tokens per scope from the challenge's realm; wrong credentials are a clear unauthorized and tag nothing", async (t) => {
  if (!requireTools(t, [REGISTRY_BIN, "openssl"])) return;
  const tokens = await startTokenServer({ users: { [USER]: PASSWORD } });
  const registry = await startRegistry({ auth: { kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.certPath } });
  const dir = await scratch();
  try {
    await scenario(registry, dir, tokens);
    const good = await dockerConfig(await mkdtemp(join(dir, "mount-")), registry.host, PASSWORD);
    // Tokens are cached per scope: a whole push (5 blobs, 3 manifests, tag; 3 uploads in parallel) asks once.
    tokens.requests.length = 0;
    await push(await twoPlatformIndex(join(dir, "fresh"), { seed: "fresh-token" }), `${registry.host}/auth/fresh:v1`, { env: good });
    assert.deepEqual(tokens.requests, [{ scopes: ["repository:auth/fresh:pull,push"], user: USER }]);

    // A cross-repository mount needs pull on the source too: one token covers both scopes.
    const client = new RegistryClient(registry.host, { env: good });
    try {
      const index = await twoPlatformIndex(join(dir, "build"), { seed: "auth-token" });
      await push(index, `${registry.host}/auth/app:v1`, { client });
      tokens.requests.length = 0;
      await push(index, `${registry.host}/auth/copy:v1`, { client });
      assert.ok(
        tokens.requests.some((r) => r.scopes.includes("repository:auth/app:pull") && r.scopes.includes("repository:auth/copy:pull,push")),
        JSON.stringify(tokens.requests),
      );
      await validate(await remoteIndex(`${registry.host}/auth/copy:v1`, { client, blobDir: join(dir, "cache2") }));
    } finally {
      client.close();
    }
  } finally {
    await registry.stop();
    await tokens.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
