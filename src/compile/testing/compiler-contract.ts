/**
 * The contract every Compiler keeps (Bun, Node SEA, .NET NativeAOT, a registered one). Call
 * compilerContract(...) at the top level of a *.test.ts file; it registers a `describe` block
 * of node:test tests that compile the given project once per platform and check the artifact.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { UsageError } from "../../errors.ts";
import { readElf, assertElfMatchesPlatform } from "../../elf/read-elf.ts";
import { formatPlatform, parsePlatform, type Platform } from "../../oci/platform.ts";
import type { Artifact, Compiler } from "../types.ts";

export interface CompilerContractOptions {
  create: () => Compiler | Promise<Compiler>;
  /** A project the compiler builds; only read. */
  projectDir: string;
  platforms: Platform[];
  /** node:test `skip`: a reason (see skipOrFail: it throws in CI), or false. */
  skip?: string | false;
  /** For the whole block; default 10 minutes. */
  timeoutMs?: number;
}

const APP_NAME = "contract-app";

export function compilerContract(name: string, options: CompilerContractOptions): void {
  const timeout = options.timeoutMs ?? 10 * 60_000;
  describe(`compiler contract: ${name}`, { skip: options.skip ?? false, timeout }, () => {
    let compiler: Compiler;
    let work = "";
    const artifacts = new Map<string, Artifact>();

    before(async () => {
      compiler = await options.create();
      work = await mkdtemp(join(tmpdir(), "aotpack-compiler-contract-"));
      await compiler.preflight?.(options.platforms);
      for (const platform of options.platforms) {
        const p = formatPlatform(platform);
        const artifact = await compiler.compile({
          projectDir: options.projectDir,
          platform,
          layout: "single-file",
          appName: APP_NAME,
          outDir: join(work, p.replace("/", "-")),
        });
        artifacts.set(p, artifact);
      }
    });
    after(async () => {
      if (work) await rm(work, { recursive: true, force: true });
    });

    test("the artifact names the compiler's runtime, the platform asked for and the layout", () => {
      for (const platform of options.platforms) {
        const a = artifacts.get(formatPlatform(platform))!;
        assert.equal(a.runtime, compiler.runtime);
        assert.deepEqual({ os: a.platform.os, architecture: a.platform.architecture }, { os: platform.os, architecture: platform.architecture });
        assert.equal(a.layout, "single-file");
        assert.ok(Number.isFinite(a.compileMs) && a.compileMs >= 0, "compileMs is a duration");
      }
    });

    test("single-file: one layer whose executable is /app/<appName>, the entrypoint, mode 0755", async () => {
      for (const [p, a] of artifacts) {
        assert.equal(a.layers.length, 1, p);
        assert.equal(a.entrypoint[0], `/app/${APP_NAME}`, p);
        const main = a.layers[0]!.files.find((f) => f.path === a.entrypoint[0]);
        assert.ok(main, `${p}: the entrypoint is one of the layer's files`);
        assert.equal(main.mode & 0o777, 0o755, p);
      }
    });

    test("every file is an absolute image path backed by an existing host file", async () => {
      for (const [p, a] of artifacts) {
        for (const f of a.layers.flatMap((l) => l.files)) {
          assert.match(f.path, /^\/[^\0]*$/, `${p}: ${f.path}`);
          assert.ok(!f.path.split("/").includes(".."), `${p}: ${f.path}`);
          assert.ok((await stat(f.source)).isFile(), `${p}: ${f.source}`);
        }
      }
    });

    test("the executable's ELF is the platform's, and the artifact's elf facts are read from it", async () => {
      for (const [p, a] of artifacts) {
        const main = a.layers[0]!.files.find((f) => f.path === a.entrypoint[0])!;
        const elf = await readElf(main.source);
        assertElfMatchesPlatform(elf, parsePlatform(p), main.source);
        assert.equal(a.elf.machine, elf.machine, p);
      }
    });

    test("supportedPlatforms() lists every platform it compiled", () => {
      const supported = new Set(compiler.supportedPlatforms().map(formatPlatform));
      for (const p of artifacts.keys()) assert.ok(supported.has(p), `${p} in ${[...supported].join(", ")}`);
    });

    test("an unsupported platform is a UsageError before any work: nothing is written", async () => {
      const outDir = join(work, "riscv64");
      await assert.rejects(
        compiler.compile({ projectDir: options.projectDir, platform: parsePlatform("linux/riscv64"), layout: "single-file", appName: APP_NAME, outDir }),
        (err: unknown) => err instanceof UsageError && /riscv64/.test((err as Error).message),
      );
      assert.deepEqual(await readdir(outDir).catch(() => []), []);
    });

    test("compileInputs, when present, are string facts (they key the compile cache)", async () => {
      const inputs = await compiler.compileInputs?.(options.projectDir);
      if (!inputs) return;
      for (const [k, v] of Object.entries(inputs.facts)) assert.equal(typeof v, "string", k);
    });
  });
}
