/**
 * The compilers' shared test setup: test/fixtures/hello-server compiled for linux/amd64 and
 * linux/arm64 in both layouts, inside a network namespace without network (unshare -n) where the
 * host allows it, once the runtimes are cached, so "compiles offline" is tested, not assumed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Platform } from "../../oci/platform.ts";
import { canUnshareNet, compileOffline } from "./compile-offline.ts";
import type { Artifact, ArtifactLayout, CompileRequest, Compiler } from "../types.ts";
import { sha256File } from "../npm-runtime.ts";
import { requireReal } from "../../../test/support/index.ts";

export const HELLO_SERVER = fileURLToPath(new URL("../../../test/fixtures/hello-server/", import.meta.url));
export const AMD64: Platform = { os: "linux", architecture: "amd64" };
export const ARM64: Platform = { os: "linux", architecture: "arm64" };
/** What readElf must report for a glibc executable of each architecture. */
export const EXPECTED_ELF = {
  amd64: { machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2" },
  arm64: { machine: "aarch64", interpreter: "/lib/ld-linux-aarch64.so.1" },
} as const;

export const matrixKey = (arch: string, layout: ArtifactLayout): string => `${arch}/${layout}`;

export interface HelloMatrix {
  /** Whether the compiles ran without network. */
  offline: boolean;
  /** By matrixKey(arch, layout). */
  built: Map<string, Artifact>;
}

/**
 * Fill the runtime cache online (`ensureRuntime` per platform), then compile the four builds: offline
 * through `compileOffline(kind)` when the host can unshare the network, else with `compiler()` here.
 */
export async function compileHelloMatrix(
  kind: "bun" | "node",
  compiler: () => Compiler,
  ensureRuntime: (platform: Platform) => Promise<string>,
  out: string,
  options: { parallel?: boolean } = {},
): Promise<HelloMatrix> {
  for (const platform of [AMD64, ARM64]) await ensureRuntime(platform);
  const requests: Omit<CompileRequest, "onProgress">[] = [];
  for (const platform of [AMD64, ARM64]) {
    for (const layout of ["single-file", "layered"] as const) {
      requests.push({ projectDir: HELLO_SERVER, platform, layout, outDir: join(out, platform.architecture, layout) });
    }
  }
  const offline = await canUnshareNet();
  let artifacts: Artifact[];
  if (offline) {
    const result = await compileOffline(kind, requests);
    assert.equal(result.error, undefined, `offline compile failed: ${result.error}`);
    artifacts = result.artifacts ?? [];
  } else if (options.parallel) {
    const c = compiler();
    artifacts = await Promise.all(requests.map((r) => c.compile(r)));
  } else {
    const c = compiler();
    artifacts = [];
    for (const r of requests) artifacts.push(await c.compile(r));
  }
  const built = new Map(artifacts.map((a) => [matrixKey(a.platform.architecture, a.layout), a] as const));
  return { offline, built };
}

/**
 * The two tests every npm-runtime compiler shares over its matrix: the compiles ran without network,
 * and compiling the arm64 single-file build again elsewhere gives the same bytes.
 */
export function testOfflineAndReproducible(compiler: () => Compiler, state: () => HelloMatrix & { out: string }): void {
  test("compiles inside a network namespace without network (unshare -n) once runtimes are cached", (t) => {
    if (!requireReal(t, state().offline, "unshare -n (root or user namespaces)")) return;
    assert.equal(state().built.size, 4);
  });

  test("reproducible: the same input compiled again elsewhere gives the same bytes (arm64 single-file)", async () => {
    const first = state().built.get(matrixKey("arm64", "single-file"));
    assert.ok(first);
    const again = await compiler().compile({ projectDir: HELLO_SERVER, platform: ARM64, layout: "single-file", outDir: join(state().out, "again") });
    assert.equal(await sha256File(again.layers[0]!.files[0]!.source), await sha256File(first.layers[0]!.files[0]!.source));
  });
}
