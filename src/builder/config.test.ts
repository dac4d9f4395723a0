import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { appNameFor, checkProjectConfig, loadProject } from "./config.ts";
import { globToRegExp, matchProjectFiles } from "./files.ts";
import { parseOutputSpec, checkOutputs } from "./outputs.ts";
import { parsePlatformList } from "../oci/platform.ts";

test("unknown config keys are usage errors that name the key", () => {
  assert.throws(() => checkProjectConfig({ entry: "a.ts", platfroms: [] }, "package.json"), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /unknown config key "platfroms"/);
    return true;
  });
  assert.throws(() => checkProjectConfig({ port: 70000 }, "x"), /"port" must be a port number/);
  assert.deepEqual(checkProjectConfig({ entry: "a.ts", layout: "layered" }, "x"), { entry: "a.ts", layout: "layered" });
});

test("loadProject reads the aotpack field, refuses two configs, and names the app", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-config-"));
  try {
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "@acme/Todo_API", aotpack: { entry: "src/s.ts" } }));
    const p = await loadProject(dir);
    assert.equal(p.config.entry, "src/s.ts");
    assert.equal(appNameFor(p, "x"), "todo_api");
    await writeFile(join(dir, "aotpack.config.json"), JSON.stringify({ entry: "b.ts" }));
    await assert.rejects(loadProject(dir), /keep one/);
    await writeFile(join(dir, "package.json"), "{ not json");
    await assert.rejects(loadProject(dir), /is not valid JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("globs match project files and skip secrets unless named exactly", async () => {
  assert.ok(globToRegExp("public/**").test("public/a/b.css"));
  assert.ok(globToRegExp("**/*.json").test("a.json"));
  assert.ok(globToRegExp("**/*.json").test("x/y/a.json"));
  assert.ok(!globToRegExp("*.json").test("x/a.json"));
  const dir = await mkdtemp(join(tmpdir(), "aotpack-files-"));
  try {
    for (const f of ["a.json", ".env", ".env.local", "key.pem", "README.md"]) await writeFile(join(dir, f), "x");
    const m = await matchProjectFiles(dir, ["*", ".env.local"]);
    assert.deepEqual(m.files, [".env.local", "README.md", "a.json"]);
    assert.deepEqual(m.skippedSecrets, [".env", "key.pem"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("output specs parse with optional tags and reject unknown kinds", () => {
  assert.deepEqual(parseOutputSpec("oci:dist/app:v1"), { kind: "oci", target: "dist/app", tag: "v1", raw: "oci:dist/app:v1" });
  assert.deepEqual(parseOutputSpec("oci:dist/app"), { kind: "oci", target: "dist/app", raw: "oci:dist/app" });
  assert.equal(parseOutputSpec("registry:127.0.0.1:5000/app:v1").target, "127.0.0.1:5000/app:v1");
  assert.throws(() => parseOutputSpec("tarball:x"), UsageError);
  assert.throws(() => parseOutputSpec("oci:"), /missing path/);
});

test("a docker-archive of two platforms needs a choice", () => {
  const two = parsePlatformList("linux/amd64,linux/arm64");
  const spec = parseOutputSpec("docker-archive:x.tar");
  assert.throws(() => checkOutputs([spec], two), /choose one with --docker-platform/);
  assert.doesNotThrow(() => checkOutputs([spec], two, two[1]));
  assert.throws(() => checkOutputs([spec], two.slice(0, 1), two[1]), /not among the built platforms/);
});

test("docker-archive:FILE:name:tag (skopeo's form) names the image; FILE:tag keeps the app name", () => {
  assert.deepEqual(parseOutputSpec("docker-archive:out/app.tar:team/hello:v1"), {
    kind: "docker-archive",
    target: "out/app.tar",
    name: "team/hello",
    tag: "v1",
    raw: "docker-archive:out/app.tar:team/hello:v1",
  });
  assert.deepEqual(parseOutputSpec("docker-archive:out/app.tar:v1"), { kind: "docker-archive", target: "out/app.tar", tag: "v1", raw: "docker-archive:out/app.tar:v1" });
  assert.deepEqual(parseOutputSpec("docker-archive:app.tar"), { kind: "docker-archive", target: "app.tar", raw: "docker-archive:app.tar" });
  assert.throws(() => parseOutputSpec("docker-archive:app.tar:Team/Hello:v1"), /invalid image name "Team\/Hello"/);
});

test("verify checks in the config may send a body (text or JSON) and headers; bad headers are refused", () => {
  const check = { method: "POST", path: "/todos", body: { title: "x" }, headers: { Authorization: "Bearer t" }, expectStatus: 201 };
  assert.deepEqual(checkProjectConfig({ verify: [check, { method: "PUT", path: "/todos/1", body: "{}" }] }, "x").verify, [check, { method: "PUT", path: "/todos/1", body: "{}" }]);
  assert.throws(() => checkProjectConfig({ verify: [{ path: "/", headers: { "Bad Name": "v" } }] }, "x"), /"verify" must be/);
  assert.throws(() => checkProjectConfig({ verify: [{ path: "/", headers: { X: "a\r\nInjected: 1" } }] }, "x"), /"verify" must be/);
  assert.throws(() => checkProjectConfig({ verify: [{ path: "/", body: 5 }] }, "x"), /"verify" must be/);
});
