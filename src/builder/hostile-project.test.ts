/** Issue 16: project files an attacker (or a careless user) controls never leak secrets or crash the parser. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { UsageError } from "../errors.ts";
import { checkProjectConfig, loadProject } from "./config.ts";
import { filesWarnings, matchProjectFiles } from "./files.ts";
import { resolveEntry } from "../compile/entry.ts";

const SECRETS = [
  ".envrc",
  ".netrc",
  ".git-credentials",
  ".aws/credentials",
  ".docker/config.json",
  "keys/id_ed25519",
  "tls/server.key",
  "credentials.json",
  "conf/.pgpass",
];

test('files: ["**"] copies no secrets or dotfiles; naming one exactly still includes it', async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-secrets-"));
  try {
    for (const f of [...SECRETS, "public/index.html", "public/.well-known/security.txt", "README.md"]) {
      await mkdir(dirname(join(dir, f)), { recursive: true });
      await writeFile(join(dir, f), "x");
    }
    const all = await matchProjectFiles(dir, ["**"]);
    assert.deepEqual(all.files, ["README.md", "public/index.html"]);
    assert.deepEqual(all.skippedSecrets, [...SECRETS, "public/.well-known/security.txt"].sort());
    const named = await matchProjectFiles(dir, ["**", ".netrc", "public/.well-known/**"]);
    assert.deepEqual(named.files, [".netrc", "README.md", "public/.well-known/security.txt", "public/index.html"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("prototype keys in the config are unknown keys (usage error), not a crash", async () => {
  for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    const raw = JSON.parse(`{"${key}": {"x": 1}}`) as unknown;
    assert.throws(
      () => checkProjectConfig(raw, "aotpack.config.json"),
      (e: unknown) => e instanceof UsageError && e.message.includes(`unknown config key "${key}"`),
      key,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), "aotpack-proto-"));
  try {
    await writeFile(join(dir, "package.json"), '{"name":"x","aotpack":{"__proto__":{"entry":"/etc/passwd"}}}');
    await assert.rejects(loadProject(dir), (e: unknown) => e instanceof UsageError && /unknown config key "__proto__"/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an entry outside the project is a usage error", async () => {
  const root = await mkdtemp(join(tmpdir(), "aotpack-entry-out-"));
  try {
    const dir = join(root, "app");
    await mkdir(dir);
    await writeFile(join(root, "outside.ts"), "export {};\n");
    for (const entry of ["/etc/passwd", "../outside.ts", join(root, "outside.ts")]) {
      await assert.rejects(resolveEntry(dir, entry), (e: unknown) => e instanceof UsageError && /outside the project/.test(e.message), entry);
    }
    await writeFile(join(dir, "package.json"), JSON.stringify({ main: "../outside.ts" }));
    await assert.rejects(resolveEntry(dir), (e: unknown) => e instanceof UsageError && /outside the project/.test(e.message));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** A file whose name is not UTF-8 (Latin-1 `café`), made through a Buffer path as a tar or an rsync can. */
async function nonUtf8File(dir: string, sub: string): Promise<void> {
  await mkdir(join(dir, sub), { recursive: true });
  await writeFile(Buffer.concat([Buffer.from(join(dir, sub) + "/caf"), Buffer.from([0xe9]), Buffer.from(".txt")]), "x");
}

test("issue 33: a file name that is not UTF-8 is skipped when not shipped, refused with its name escaped when it would be", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-names-"));
  try {
    await writeFile(join(dir, "package.json"), '{"name":"x"}');
    await mkdir(join(dir, "public"));
    await writeFile(join(dir, "public", "index.html"), "x");
    await nonUtf8File(dir, "notes");
    // Not shipped: listing (the compile key) and matching other globs both work.
    const { projectFingerprint } = await import("./fingerprint.ts");
    assert.match(await projectFingerprint(dir, {}), /^[0-9a-f]{64}$/);
    assert.deepEqual((await matchProjectFiles(dir, ["public/**"])).files, ["public/index.html"]);
    // Shipped: a usage error naming it with the byte escaped.
    await assert.rejects(matchProjectFiles(dir, ["notes/**"]), (e: unknown) => e instanceof UsageError && e.message.includes("notes/caf\\xe9.txt") && !/[\u0080-\uffff]/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('issue 33: files: ["dist/**"] ships dist/ (a build output the project names); a glob that matches nothing is reported', async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-dist-files-"));
  try {
    await mkdir(join(dir, "dist", "assets"), { recursive: true });
    await writeFile(join(dir, "dist", "assets", "app.css"), "x");
    await mkdir(join(dir, "node_modules", "pkg", "views"), { recursive: true });
    await writeFile(join(dir, "node_modules", "pkg", "views", "index.html"), "x");
    const m = await matchProjectFiles(dir, ["dist/**", "node_modules/pkg/views/**", "nothing/**"]);
    assert.deepEqual(m.files, ["dist/assets/app.css", "node_modules/pkg/views/index.html"]);
    assert.deepEqual(m.unmatched, ["nothing/**"]);
    // `**` alone still never reaches into dist/ or node_modules/.
    assert.deepEqual((await matchProjectFiles(dir, ["**"])).files, []);
    // The build says what matched nothing, and that a whole node_modules is not what the bundle needs.
    const globs = ["node_modules/**", "nothing/**"];
    const warnings = filesWarnings(globs, await matchProjectFiles(dir, globs), dir);
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.match(warnings[0]!, /"node_modules\/\*\*" ships 1 files of the installed tree: .*node_modules\/PKG\/views/);
    assert.match(warnings[1]!, /"nothing\/\*\*" matches no file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
