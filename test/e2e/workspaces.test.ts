/**
 * Issue 27, section 3: a workspace service, its dependencies hoisted to the workspace root and its
 * lockfile there. The SBOM lists its npm packages (it listed none: the hoisted files are outside the
 * service's folder) and the workspace package it imports; npm's is built for both platforms and
 * verified, pnpm's and yarn's are checked at the SBOM (the same code reads them on one platform).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../support/cli.ts";
import { tempDir } from "../support/tools.ts";

/** root/{package.json, packages/lib, packages/api}: api imports `ms` (from npm) and `@ws/lib` (the workspace). */
async function workspace(root: string, manager: "npm" | "pnpm" | "yarn"): Promise<string> {
  const api = join(root, "packages", "api");
  const lib = join(root, "packages", "lib");
  await mkdir(api, { recursive: true });
  await mkdir(lib, { recursive: true });
  await writeFile(join(root, "package.json"), JSON.stringify({ name: "ws", private: true, workspaces: ["packages/*"] }));
  if (manager === "pnpm") await writeFile(join(root, "pnpm-workspace.yaml"), "packages:\n  - packages/*\n");
  await writeFile(join(lib, "package.json"), JSON.stringify({ name: "@ws/lib", version: "0.1.0", main: "index.js", license: "MIT" }));
  await writeFile(join(lib, "index.js"), `exports.greet = (n) => "hello " + n;\n`);
  const workspaceDep = manager === "npm" ? "*" : "workspace:*";
  await writeFile(join(api, "package.json"), JSON.stringify({ name: "api", version: "1.0.0", scripts: { start: "node server.js" }, dependencies: { ms: "2.1.3", "@ws/lib": manager === "yarn" ? "0.1.0" : workspaceDep } }));
  await writeFile(
    join(api, "server.js"),
    [
      `const http = require("node:http");`,
      `const ms = require("ms");`,
      `const { greet } = require("@ws/lib");`,
      `const server = http.createServer((req, res) => res.end(greet("ws") + " " + ms(60000))).listen(Number(process.env.PORT ?? 8080));`,
      `process.on("SIGTERM", () => server.close(() => process.exit(0)));`,
      ``,
    ].join("\n"),
  );
  const install =
    manager === "npm" ? ["npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts"]]
    : manager === "pnpm" ? ["npx", ["-y", "pnpm@9.15.9", "install", "--ignore-scripts"]]
    : ["npx", ["-y", "yarn@1.22.22", "install", "--ignore-scripts", "--non-interactive"]];
  const r = spawnSync(install[0] as string, install[1] as string[], { cwd: root, encoding: "utf8", env: { ...process.env, COREPACK_ENABLE_STRICT: "0" } });
  assert.equal(r.status, 0, `${manager} install: ${r.stderr}`);
  return api;
}

interface Spdx { packages: { name: string; versionInfo?: string; licenseDeclared?: string; checksums?: { algorithm: string }[] }[]; files?: { fileName: string }[] }

async function sbomOf(image: string, platform: string): Promise<Spdx> {
  const r = await runCli(["sbom", image, "--platform", platform]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Spdx;
}

function assertWorkspaceSbom(doc: Spdx, manager: string): void {
  const ms = doc.packages.find((p) => p.name === "ms");
  assert.ok(ms, `${manager}: the SBOM lists the hoisted npm package ms: ${doc.packages.map((p) => p.name).join(", ")}`);
  assert.equal(ms.versionInfo, "2.1.3");
  assert.equal(ms.licenseDeclared, "MIT");
  // The workspace package is the workspace's own source, named from the workspace root.
  assert.ok(doc.files?.some((f) => f.fileName === "./packages/lib/index.js"), `${manager}: ${JSON.stringify(doc.files)}`);
}

test("npm workspace service: builds and verifies on both platforms; its SBOM lists the hoisted npm packages", { timeout: 900_000 }, async (t) => {
  const dir = await tempDir(t, "aotpack-ws-npm-");
  const api = await workspace(join(dir, "ws"), "npm");
  const image = `oci:${join(dir, "out")}:ws`;
  const r = await runCli(["build", api, "--platform", "linux/amd64,linux/arm64", "-o", image, "--verify", "--http", "GET / 200", "--json"]);
  assert.equal(r.code, 0, r.stderr.split("\n").slice(-20).join("\n"));
  const j = JSON.parse(r.stdout) as { verify?: { ok: boolean } };
  assert.ok(j.verify?.ok, JSON.stringify(j.verify));
  for (const p of ["linux/amd64", "linux/arm64"]) {
    const doc = await sbomOf(image, p);
    assertWorkspaceSbom(doc, `npm ${p}`);
    // The integrity comes from the workspace root's package-lock.json, checked against npm's cache.
    assert.ok(doc.packages.find((x) => x.name === "ms")?.checksums?.some((c) => c.algorithm === "SHA512"), `npm ${p}: ms has its verified SHA512`);
  }
});

for (const manager of ["pnpm", "yarn"] as const) {
  test(`${manager} workspace service: its SBOM lists the npm packages`, { timeout: 900_000 }, async (t) => {
    const dir = await tempDir(t, `aotpack-ws-${manager}-`);
    const api = await workspace(join(dir, "ws"), manager);
    const image = `oci:${join(dir, "out")}:ws`;
    const r = await runCli(["build", api, "--platform", "linux/amd64", "-o", image]);
    assert.equal(r.code, 0, r.stderr.split("\n").slice(-20).join("\n"));
    assertWorkspaceSbom(await sbomOf(image, "linux/amd64"), manager);
  });
}
