import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { basicHeader, credentialsFor, mergeScopes, parseChallenge } from "./auth.ts";

async function withConfig(config: unknown, helpers: Record<string, string>, fn: (env: NodeJS.ProcessEnv) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-auth-"));
  try {
    await writeFile(join(dir, "config.json"), JSON.stringify(config));
    for (const [name, script] of Object.entries(helpers)) {
      const p = join(dir, `docker-credential-${name}`);
      await writeFile(p, script);
      await chmod(p, 0o755);
    }
    await fn({ DOCKER_CONFIG: dir, PATH: `${dir}:/usr/bin:/bin`, HOME: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// A helper that answers for one server URL and says "credentials not found" otherwise.
const HELPER = `#!/bin/sh
read server
[ "$1" = get ] || exit 3
case "$server" in
  "reg.example:5000") echo '{"ServerURL":"reg.example:5000","Username":"helper-user","Secret":"helper-secret"}' ;;
  "https://index.docker.io/v1/") echo '{"Username":"hub-user","Secret":"hub-secret"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;

test("auths: base64 auth, username/password, URL-shaped keys, Docker Hub aliases", async () => {
  const config = {
    auths: {
      "https://reg.example:5000/v2/": { auth: Buffer.from("alice:s3cr:et").toString("base64") },
      "other.example": { username: "bob", password: "pw" },
      "https://index.docker.io/v1/": { auth: Buffer.from("hubber:hubpw").toString("base64") },
    },
  };
  await withConfig(config, {}, async (env) => {
    assert.deepEqual(await credentialsFor("reg.example:5000", { env }), { username: "alice", password: "s3cr:et" });
    assert.deepEqual(await credentialsFor("other.example", { env }), { username: "bob", password: "pw" });
    assert.deepEqual(await credentialsFor("docker.io", { env }), { username: "hubber", password: "hubpw" });
    assert.equal(await credentialsFor("unknown.example", { env }), undefined);
  });
});

test("no config.json means anonymous", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-auth-none-"));
  try {
    assert.equal(await credentialsFor("reg.example", { env: { DOCKER_CONFIG: dir } }), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("credHelpers win over auths; credsStore is the fallback; not-found is anonymous", async () => {
  const config = {
    auths: { "reg.example:5000": { auth: Buffer.from("stale:stale").toString("base64") } },
    credHelpers: { "reg.example:5000": "fake" },
    credsStore: "fake",
  };
  await withConfig(config, { fake: HELPER }, async (env) => {
    assert.deepEqual(await credentialsFor("reg.example:5000", { env }), { username: "helper-user", password: "helper-secret" });
    assert.deepEqual(await credentialsFor("docker.io", { env }), { username: "hub-user", password: "hub-secret" });
    assert.equal(await credentialsFor("nowhere.example", { env }), undefined);
  });
});

test("a missing or failing helper is a clear error that leaks nothing", async () => {
  const failing = `#!/bin/sh\necho 'secret-in-output hunter2' ; echo 'hunter2' >&2; exit 7\n`;
  await withConfig({ credHelpers: { "a.example": "absent", "b.example": "failing" } }, { failing }, async (env) => {
    await assert.rejects(credentialsFor("a.example", { env }), (err: unknown) => err instanceof AotpackError && /docker-credential-absent is not on PATH/.test(err.message));
    await assert.rejects(credentialsFor("b.example", { env }), (err: unknown) => {
      assert.ok(err instanceof AotpackError);
      assert.match(err.message, /docker-credential-failing failed \(exit 7\)/);
      assert.doesNotMatch(`${err.message} ${err.hint ?? ""}`, /hunter2/);
      return true;
    });
  });
});

test("WWW-Authenticate challenges", () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: "bearer",
    params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
  });
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: "basic", params: { realm: "Registry Realm" } });
  assert.deepEqual(parseChallenge('Bearer realm="r",error="insufficient_scope", scope="repository:x:pull"')?.params, { realm: "r", error: "insufficient_scope", scope: "repository:x:pull" });
  assert.equal(parseChallenge(undefined), undefined);
});

test("scopes merge per resource so one token covers them", () => {
  assert.deepEqual(mergeScopes(["repository:a:pull"], ["repository:a:push", "repository:b:pull"]), ["repository:a:pull,push", "repository:b:pull"]);
  assert.deepEqual(mergeScopes(["repository:a:pull,push"], ["repository:a:pull"]), ["repository:a:pull,push"]);
  assert.deepEqual(mergeScopes(["repository:a:pull repository:b:push"]), ["repository:a:pull", "repository:b:push"]);
});

test("basic header encodes user:password", () => {
  assert.equal(basicHeader({ username: "u", password: "p:w" }), `Basic ${Buffer.from("u:p:w").toString("base64")}`);
});
