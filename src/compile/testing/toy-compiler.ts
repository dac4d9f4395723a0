/**
 * A toy runtime for tests: its "compile" copies a tiny static executable (static-elf.ts) that
 * prints the project's toy.json `message`. It is one CompilerEntry, nothing else: the test that
 * registers it shows that the config, the CLI, the help and build() pick a runtime up from the
 * registry alone.
 */
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { readElf } from "../../elf/read-elf.ts";
import { join } from "node:path";
import { UsageError } from "../../errors.ts";
import { writeStaticHello } from "../../oci/testing/static-elf.ts";
import { formatPlatform, parsePlatform } from "../../oci/platform.ts";
import { checkedElf, executableName } from "../common.ts";
import type { CompilerEntry } from "../registry.ts";
import type { Artifact, CompileRequest, Compiler } from "../types.ts";

export const TOY_MARKER = "toy.json";

const PLATFORMS = [parsePlatform("linux/amd64"), parsePlatform("linux/arm64")];

function toyCompiler(kind: string): Compiler {
  return {
    runtime: kind,
    supportedPlatforms: () => PLATFORMS.map((p) => ({ ...p })),
    async compile(request: CompileRequest): Promise<Artifact> {
      const started = Date.now();
      const arch = request.platform.architecture;
      if (request.platform.os !== "linux" || (arch !== "amd64" && arch !== "arm64")) {
        throw new UsageError(`unsupported platform ${formatPlatform(request.platform)} for the ${kind} runtime; supported: ${PLATFORMS.map(formatPlatform).join(", ")}`);
      }
      const { message } = JSON.parse(await readFile(join(request.projectDir, TOY_MARKER), "utf8")) as { message: string };
      const name = await executableName(request.projectDir, request.appName);
      await mkdir(request.outDir, { recursive: true });
      const source = join(request.outDir, name);
      await writeStaticHello(source, arch, message);
      return {
        platform: request.platform,
        runtime: kind,
        layout: request.layout,
        layers: [{ name: "app", files: [{ path: `/app/${name}`, source, mode: 0o755 }] }],
        entrypoint: [`/app/${name}`],
        elf: await checkedElf(source, request.platform),
        compileMs: Date.now() - started,
      };
    },
  };
}

/** The toy runtime's registry entry: a folder with a toy.json is a toy project. */
export function toyCompilerEntry(kind = "toy"): CompilerEntry {
  return {
    kind,
    summary: "toy static executable (tests)",
    detects: `a folder with a ${TOY_MARKER}`,
    detect: (dir) => access(join(dir, TOY_MARKER)).then(() => true, () => false),
    create: () => toyCompiler(kind),
  };
}

/** Bun's layered artifact for a test compiler: the runtime kept where it is (a cache) + an app.js written to outDir. */
export async function layeredArtifact(req: CompileRequest, runtime: string): Promise<Artifact> {
  await writeFile(join(req.outDir, "app.js"), "console.log(1)\n");
  return {
    platform: req.platform, runtime: "bun", layout: "layered", compileMs: 1, entrypoint: ["/app/bun", "/app/app.js"], elf: await readElf(runtime),
    layers: [
      { name: "runtime", files: [{ path: "/app/bun", source: runtime, mode: 0o755 }] },
      { name: "app", files: [{ path: "/app/app.js", source: join(req.outDir, "app.js"), mode: 0o644 }] },
    ],
  };
}
