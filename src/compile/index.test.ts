import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AotpackError, UsageError } from "../errors.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import { compileAll, compilerFor } from "./index.ts";
import type { Artifact, CompileRequest, Compiler } from "./types.ts";

const platforms: Platform[] = ["amd64", "arm64", "386", "ppc64le", "s390x"].map((architecture) => ({ os: "linux", architecture }));

function request(platform: Platform): CompileRequest {
  return { projectDir: "/p", platform, layout: "single-file", outDir: `/out/${platform.architecture}` };
}

/** A fake compiler that records how many compiles overlap; each waits for a tick so they can. */
function fakeCompiler(fail?: (p: Platform) => Error | undefined): Compiler & { maxActive: number; started: string[] } {
  let active = 0;
  const c = {
    runtime: "bun" as const,
    maxActive: 0,
    started: [] as string[],
    supportedPlatforms: () => platforms,
    async compile(r: CompileRequest): Promise<Artifact> {
      c.started.push(formatPlatform(r.platform));
      active++;
      c.maxActive = Math.max(c.maxActive, active);
      await new Promise((resolve) => setImmediate(resolve));
      active--;
      const err = fail?.(r.platform);
      if (err) throw err;
      return {
        platform: r.platform,
        runtime: "bun",
        layout: r.layout,
        layers: [],
        entrypoint: ["/app/x"],
        elf: { class: 64, machine: "x", needed: [], static: true },
        compileMs: 0,
      };
    },
  };
  return c;
}

describe("compileAll", () => {
  test("keeps request order and never runs more than `concurrency` at once", async () => {
    const c = fakeCompiler();
    const out = await compileAll(c, platforms.map(request), { concurrency: 2 });
    assert.deepEqual(out.map((a) => a.platform.architecture), platforms.map((p) => p.architecture));
    assert.equal(c.maxActive, 2);
  });

  test("defaults to the core count and clamps nonsense to 1", async () => {
    const c = fakeCompiler();
    await compileAll(c, platforms.map(request), { concurrency: 0 });
    assert.equal(c.maxActive, 1);
  });

  test("all or nothing: the first failure is thrown with its platform, keeping exit code and hint; no new compiles start", async () => {
    const c = fakeCompiler((p) => (p.architecture === "arm64" ? new UsageError("bad option", { hint: "try X" }) : undefined));
    await assert.rejects(compileAll(c, platforms.map(request), { concurrency: 1 }), (err: unknown) => {
      assert.ok(err instanceof AotpackError);
      assert.equal(err.message, "linux/arm64: bad option");
      assert.equal(err.exitCode, 2);
      assert.equal(err.hint, "try X");
      return true;
    });
    assert.deepEqual(c.started, ["linux/amd64", "linux/arm64"]);
  });

  test("a plain Error becomes an AotpackError naming the platform; one already naming it is passed through", async () => {
    const plain = fakeCompiler((p) => (p.architecture === "386" ? new Error("boom") : undefined));
    await assert.rejects(compileAll(plain, platforms.map(request)), /^AotpackError: linux\/386: compile failed: boom$/);
    const named = new AotpackError("cannot compile x for linux/amd64: y");
    const same = fakeCompiler((p) => (p.architecture === "amd64" ? named : undefined));
    await assert.rejects(compileAll(same, platforms.map(request)), (err: unknown) => err === named);
  });
});

describe("compilerFor", () => {
  test("bun, node and dotnet-aot; anything else is a usage error listing the runtimes", async () => {
    assert.equal((await compilerFor("bun")).runtime, "bun");
    assert.equal((await compilerFor("node")).runtime, "node");
    assert.equal((await compilerFor("dotnet-aot")).runtime, "dotnet-aot");
    assert.throws(() => compilerFor("deno"), (err: unknown) => err instanceof UsageError && /supported: bun \(default\), node/.test(err.message));
  });
});
