import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { AotpackError, UsageError } from "../errors.ts";
import { bunCompiler, describeBunError } from "./bun.ts";
import { bunRuntimeSpec, bunTargetFor, ensureBunRuntime } from "./bun-runtime.ts";
import { runtimeCachePath } from "./npm-runtime.ts";
import { runArgv, startServer } from "./testing/serve.ts";
import { hasQemuArm64, requireReal, suiteTempDir, tempCache } from "../../test/support/index.ts";
import type { Artifact } from "./types.ts";
import { AMD64, ARM64, EXPECTED_ELF, HELLO_SERVER, compileHelloMatrix, matrixKey, testOfflineAndReproducible } from "./testing/hello-matrix.ts";

const FIXTURE = HELLO_SERVER;
const EXPECTED = EXPECTED_ELF;

/** The server answers GET / with "hello", and exits 0 on SIGTERM (not killed). */
async function servesHelloAndStops(argv: string[]): Promise<void> {
  const server = await startServer(argv, { timeoutMs: 120_000 });
  try {
    assert.equal(server.body, "hello");
  } finally {
    const exit = await server.stop();
    assert.equal(exit.killed, false, "did not exit after SIGTERM");
    assert.equal(exit.code, 0, server.output());
  }
}

describe("bun compiler: hello-server for linux/amd64 and linux/arm64 (real bun build --compile)", () => {
  let out: string;
  let offline = false;
  const built = new Map<string, Artifact>();
  const key = matrixKey;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), "aotpack-bun-test-"));
    // Online once: fill the runtime cache. Everything after this must work without network.
    const matrix = await compileHelloMatrix("bun", bunCompiler, (p) => ensureBunRuntime(p), out, { parallel: true });
    offline = matrix.offline;
    for (const [k, a] of matrix.built) built.set(k, a);
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  testOfflineAndReproducible(bunCompiler, () => ({ offline, built, out }));

  for (const arch of ["amd64", "arm64"] as const) {
    test(`${arch}: single-file artifact shape and ELF facts (machine, interpreter, NEEDED)`, async () => {
      const a = built.get(key(arch, "single-file"));
      assert.ok(a, "artifact missing");
      assert.equal(a.runtime, "bun");
      assert.deepEqual(a.entrypoint, ["/app/hello-server"]);
      assert.equal(a.layers.length, 1);
      const file = a.layers[0]?.files[0];
      assert.ok(file);
      assert.equal(file.path, "/app/hello-server");
      assert.equal(file.mode, 0o755);
      assert.ok((await stat(file.source)).size > 10_000_000, "a Bun executable is tens of MB");
      assert.equal(a.elf.class, 64);
      assert.equal(a.elf.machine, EXPECTED[arch].machine);
      assert.equal(a.elf.interpreter, EXPECTED[arch].interpreter);
      assert.equal(a.elf.static, false);
      assert.ok(a.elf.needed.includes("libc.so.6"), `NEEDED: ${a.elf.needed.join(", ")}`);
      assert.ok(a.elf.needed.includes("libm.so.6"), `NEEDED: ${a.elf.needed.join(", ")}`);
      assert.equal(typeof a.compileMs, "number");
    });

    test(`${arch}: layered artifact = runtime layer (/app/bun) + app layer (/app/app.js)`, async () => {
      const a = built.get(key(arch, "layered"));
      assert.ok(a, "artifact missing");
      assert.deepEqual(a.entrypoint, ["/app/bun", "/app/app.js"]);
      assert.deepEqual(a.layers.map((l) => l.name), ["runtime", "app"]);
      assert.deepEqual(a.layers[0]?.files.map((f) => [f.path, f.mode]), [["/app/bun", 0o755]]);
      assert.ok(a.layers[1]?.files.some((f) => f.path === "/app/app.js" && f.mode === 0o644));
      const app = a.layers[1]?.files.find((f) => f.path === "/app/app.js");
      assert.ok(app && (await stat(app.source)).size < 100_000, "the app layer is small");
      assert.equal(a.elf.machine, EXPECTED[arch].machine);
    });

    const how = arch === "amd64" ? "natively" : "under qemu-aarch64-static";
    test(`${arch}: the single-file binary answers GET / with 200 ${how} and exits 0 on SIGTERM`, async (t) => {
      if (arch === "arm64" && process.arch !== "arm64" && !requireReal(t, hasQemuArm64(), "qemu-aarch64-static + libc6-arm64-cross")) return;
      const a = built.get(key(arch, "single-file"));
      assert.ok(a);
      await servesHelloAndStops(runArgv(arch, a.layers[0]!.files[0]!.source));
    });

    test(`${arch}: the layered pair (runtime + app.js) answers ${how}`, async (t) => {
      if (arch === "arm64" && process.arch !== "arm64" && !requireReal(t, hasQemuArm64(), "qemu-aarch64-static + libc6-arm64-cross")) return;
      const a = built.get(key(arch, "layered"));
      assert.ok(a);
      const runtime = a.layers[0]!.files[0]!.source;
      const app = a.layers[1]!.files.find((f) => f.path === "/app/app.js")!.source;
      await servesHelloAndStops(runArgv(arch, runtime, app));
    });
  }
});

describe("bun compiler: --sourcemap and --bytecode", () => {
  const outDir = suiteTempDir("aotpack-bun-opts-");

  for (const layout of ["single-file", "layered"] as const) {
    test(`${layout}: the output still serves on amd64${layout === "layered" ? "; app layer carries app.js, .jsc and .map" : ""}`, async () => {
      await ensureBunRuntime(AMD64);
      const a = await bunCompiler().compile({
        projectDir: FIXTURE,
        platform: AMD64,
        layout,
        outDir: join(outDir(), layout),
        sourcemap: true,
        bytecode: true,
        appName: "svc",
      });
      if (layout === "layered") {
        assert.deepEqual(a.layers[1]?.files.map((f) => f.path), ["/app/app.js", "/app/app.js.jsc", "/app/app.js.map"]);
      } else {
        assert.deepEqual(a.entrypoint, ["/app/svc"]);
      }
      const argv = a.layers.flatMap((l) => l.files).filter((f) => f.path === a.entrypoint[0] || f.path === a.entrypoint[1]).map((f) => f.source);
      const server = await startServer(argv, { timeoutMs: 60_000 });
      try {
        assert.equal(server.body, "hello");
      } finally {
        assert.equal((await server.stop()).code, 0, server.output());
      }
    });
  }
});

describe("bun compiler: musl on request", () => {
  test("linux/amd64 with libc=musl: runtime from @oven/bun-linux-x64-musl, musl interpreter in the ELF", async () => {
    const out = await mkdtemp(join(tmpdir(), "aotpack-bun-musl-"));
    try {
      const a = await bunCompiler().compile({ projectDir: FIXTURE, platform: AMD64, layout: "single-file", outDir: out, libc: "musl" });
      assert.equal(a.elf.machine, "x86_64");
      assert.equal(a.elf.interpreter, "/lib/ld-musl-x86_64.so.1");
      assert.ok(!a.elf.needed.includes("libc.so.6"), a.elf.needed.join(", "));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe("bun compiler: bad input", () => {
  const work = suiteTempDir("aotpack-bun-bad-");

  async function project(name: string, pkg: object, files: Record<string, string>): Promise<string> {
    const p = join(work(), name);
    await mkdir(p, { recursive: true });
    await writeFile(join(p, "package.json"), JSON.stringify(pkg));
    for (const [f, text] of Object.entries(files)) {
      await mkdir(join(p, f, ".."), { recursive: true });
      await writeFile(join(p, f), text);
    }
    return p;
  }

  test("a syntax error fails with AotpackError naming file:line", async () => {
    await ensureBunRuntime(AMD64);
    const p = await project("syntax", { name: "syntax", aotpack: { entry: "src/server.ts" } }, {
      "src/server.ts": `const port: number = 8080;\nexport function broken( {\n  return port\n}\n`,
    });
    for (const layout of ["single-file", "layered"] as const) {
      await assert.rejects(
        bunCompiler().compile({ projectDir: p, platform: AMD64, layout, outDir: join(p, `out-${layout}`) }),
        (err: unknown) => {
          assert.ok(err instanceof AotpackError && !(err instanceof UsageError), String(err));
          assert.equal(err.exitCode, 1);
          assert.match(err.message, /src\/server\.ts:3:\d+: /);
          assert.match(err.message, /linux\/amd64/);
          return true;
        },
      );
    }
  });

  test("a missing entry file fails with AotpackError naming the file and where it came from", async () => {
    const p = await project("missing", { name: "missing", main: "dist/server.js" }, {});
    await assert.rejects(
      bunCompiler().compile({ projectDir: p, platform: AMD64, layout: "single-file", outDir: join(p, "out") }),
      (err: unknown) => err instanceof AotpackError && err.exitCode === 1 && /dist\/server\.js \(from main\) does not exist/.test(err.message),
    );
  });

  test("no entry declared fails with UsageError saying how to set it", async () => {
    // Nothing by convention either (server.ts, src/index.ts … would be found).
    const p = await project("noentry", { name: "noentry" }, { "app/start.ts": "" });
    await assert.rejects(
      bunCompiler().compile({ projectDir: p, platform: AMD64, layout: "single-file", outDir: join(p, "out") }),
      (err: unknown) => err instanceof UsageError && err.exitCode === 2 && err.message.includes(`"aotpack": {"entry": "src/server.ts"}`),
    );
  });

  test("unsupported platforms fail with UsageError listing the supported ones, before any work", async () => {
    for (const platform of [
      { os: "windows", architecture: "amd64" },
      { os: "linux", architecture: "riscv64" },
    ]) {
      await assert.rejects(
        bunCompiler().compile({ projectDir: join(work(), "does-not-exist"), platform, layout: "single-file", outDir: join(work(), "x") }),
        (err: unknown) =>
          err instanceof UsageError && err.exitCode === 2 && err.message.includes("supported: linux/amd64, linux/arm64"),
      );
    }
    assert.deepEqual(bunCompiler().supportedPlatforms(), [AMD64, ARM64]);
  });
});

describe("bun targets", () => {
  test("platform + options map to bun --target and the @oven runtime package", () => {
    assert.deepEqual(bunTargetFor(AMD64), { bunTarget: "bun-linux-x64", pkg: "@oven/bun-linux-x64" });
    assert.deepEqual(bunTargetFor(AMD64, { baseline: true }), { bunTarget: "bun-linux-x64-baseline", pkg: "@oven/bun-linux-x64-baseline" });
    assert.deepEqual(bunTargetFor(AMD64, { libc: "musl" }), { bunTarget: "bun-linux-x64-musl", pkg: "@oven/bun-linux-x64-musl" });
    assert.deepEqual(bunTargetFor(ARM64), { bunTarget: "bun-linux-arm64", pkg: "@oven/bun-linux-aarch64" });
    assert.deepEqual(bunTargetFor(ARM64, { libc: "musl" }), { bunTarget: "bun-linux-arm64-musl", pkg: "@oven/bun-linux-aarch64-musl" });
    assert.throws(() => bunTargetFor({ os: "linux", architecture: "arm", variant: "v7" }), UsageError);
  });

  test("describeBunError turns Bun's report into file:line:col: message", () => {
    const output = `3 |   return x\n             ^\nerror: Expected "}" but found "x"\n    at /proj/src/a.ts:3:10\n`;
    assert.equal(describeBunError(output, "/proj"), `src/a.ts:3:10: Expected "}" but found "x"`);
    assert.equal(describeBunError("error: Could not resolve: \"zod\"\n", "/proj"), `Could not resolve: "zod"`);
    assert.equal(describeBunError("", "/proj"), "bun build failed without output");
  });
});

describe("bun compiler: the runtime is checked while the compile runs", () => {
  test("a flipped byte in the cached runtime is not compiled into a single-file executable: it is fetched again", { timeout: 300_000 }, async (t) => {
    const shared = await ensureBunRuntime(AMD64);
    await tempCache(t);
    // This test's own cache, holding a copy of the runtime with one byte flipped and its record kept.
    const spec = bunRuntimeSpec(AMD64);
    const target = runtimeCachePath(spec);
    await mkdir(dirname(target), { recursive: true });
    for (const suffix of ["", ".sha256", ".integrity"]) await copyFile(shared + suffix, target + suffix).catch(() => {});
    const clean = await readFile(shared);
    const offset = clean.length >> 1;
    const bad = Buffer.from(clean);
    bad[offset] = bad[offset]! ^ 0xff;
    await writeFile(target, bad);
    const out = await mkdtemp(join(tmpdir(), "aotpack-bun-poison-"));
    t.after(() => rm(out, { recursive: true, force: true }));
    const a = await bunCompiler().compile({ projectDir: FIXTURE, platform: AMD64, layout: "single-file", outDir: out });
    const exe = await readFile(a.layers[0]!.files[0]!.source);
    assert.equal(exe[offset], clean[offset], "the executable carries the runtime's real byte");
    assert.deepEqual(await readFile(target), clean, "the cached runtime was fetched again");
    await servesHelloAndStops([a.layers[0]!.files[0]!.source]);
  });
});

describe("bun compiler: layered with dependencies", () => {
  const outDir = suiteTempDir("aotpack-bun-deps-");
  test("the dependencies the app imports go to their own layer (a split chunk); app.js and its map link stay named app.js", async () => {
    await ensureBunRuntime(AMD64);
    const project = join(outDir(), "proj");
    await mkdir(join(project, "node_modules", "dep"), { recursive: true });
    await writeFile(join(project, "node_modules", "dep", "package.json"), JSON.stringify({ name: "dep", main: "index.js" }));
    await writeFile(join(project, "node_modules", "dep", "index.js"), `exports.body = "from dep";\n`);
    await writeFile(join(project, "package.json"), JSON.stringify({ name: "p", main: "server.js" }));
    await writeFile(
      join(project, "server.js"),
      `const { body } = require("dep");\nconst s = require("node:http").createServer((q, r) => r.end(body)).listen(Number(process.env.PORT ?? 8080));\nprocess.on("SIGTERM", () => s.close(() => process.exit(0)));\n`,
    );
    const a = await bunCompiler().compile({ projectDir: project, platform: AMD64, layout: "layered", outDir: join(outDir(), "out"), sourcemap: true });
    assert.deepEqual(a.layers.map((l) => l.name), ["runtime", "dependencies", "app"]);
    assert.deepEqual(a.layers[2]!.files.map((f) => f.path), ["/app/app.js", "/app/app.js.map"]);
    assert.ok(a.layers[1]!.files.every((f) => /^\/app\/deps-[a-z0-9]+\.js(\.map)?$/.test(f.path)), a.layers[1]!.files.map((f) => f.path).join(", "));
    const appJs = await readFile(a.layers[2]!.files[0]!.source, "utf8");
    assert.match(appJs, /sourceMappingURL=app\.js\.map/);
    assert.ok(!appJs.includes("from dep"), "the dependency's code is not in app.js");
    // Served from the layout the image has: every file under one folder.
    const app = join(outDir(), "image-app");
    await mkdir(app);
    for (const f of a.layers.slice(1).flatMap((l) => l.files)) await copyFile(f.source, join(app, f.path.slice("/app/".length)));
    const server = await startServer([a.layers[0]!.files[0]!.source, join(app, "app.js")], { timeoutMs: 60_000 });
    try {
      assert.equal(server.body, "from dep");
    } finally {
      assert.equal((await server.stop()).code, 0, server.output());
    }
  });
});
