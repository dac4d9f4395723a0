/** Issue 33: root only when asked. A registry base whose own User is root does not hand root to the app's image. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readElf } from "../elf/read-elf.ts";
import { emptyImage, withConfig } from "../oci/mutate.ts";
import { parsePlatform, type Platform } from "../oci/platform.ts";
import { writeStaticHello } from "../oci/testing/static-elf.ts";
import { push } from "../registry/publisher.ts";
import type { Artifact, CompileRequest, Compiler } from "../compile/types.ts";
import { REGISTRY_BIN, requireTools, startRegistry, tempCache, tempDir } from "../../test/support/index.ts";
import { build } from "./build.ts";

const AMD64 = parsePlatform("linux/amd64");

const staticCompiler: Compiler = {
  runtime: "bun",
  supportedPlatforms: (): Platform[] => [AMD64],
  async compile(req: CompileRequest): Promise<Artifact> {
    const out = join(req.outDir, "server");
    await writeStaticHello(out, "amd64", "hi");
    return { platform: req.platform, runtime: "bun", layout: "single-file", compileMs: 1, entrypoint: ["/app/server"], elf: await readElf(out), layers: [{ name: "app", files: [{ path: "/app/server", source: out, mode: 0o755 }] }] };
  },
};

test("a registry base's root User (0, 0:0, root) becomes the non-root default; a base's bare uid is kept; --user 0:0 with allowRoot wins", { timeout: 120_000 }, async (t) => {
  if (!requireTools(t, [REGISTRY_BIN])) return;
  await tempCache(t);
  const dir = await tempDir(t);
  const project = join(dir, "app");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "app", main: "index.js" }));
  await writeFile(join(project, "index.js"), "export {};\n");
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const userOf = async (base: string, extra: { user?: string; allowRoot?: boolean } = {}): Promise<string | undefined> => {
    const r = await build({ projectDir: project, platforms: [AMD64], base, sourceDateEpoch: 0, compiler: staticCompiler, sbom: "none", provenance: false, insecureRegistries: [registry.host], ...extra });
    return (await r.platforms[0]!.image.configFile()).config.User;
  };
  for (const [i, user] of ["0", "0:0", "root", "root:root"].entries()) {
    const ref = `${registry.host}/bases/root${i}:1`;
    await push(withConfig(emptyImage(AMD64, { sourceDateEpoch: 0 }), (c) => ({ ...c, config: { ...c.config, User: user } })), ref);
    assert.equal(await userOf(ref), "65532:65532", `a base with User ${user}`);
    if (i === 0) assert.equal(await userOf(ref, { user: "0:0", allowRoot: true }), "0:0", "asked for: root");
  }
  const appUser = `${registry.host}/bases/app-user:1`;
  await push(withConfig(emptyImage(AMD64, { sourceDateEpoch: 0 }), (c) => ({ ...c, config: { ...c.config, User: "1654" } })), appUser);
  assert.equal(await userOf(appUser), "1654");
});
