/**
 * The compiler contract (testing/compiler-contract.ts) against every built-in runtime and the
 * toy one: Bun and Node SEA for amd64 and arm64; .NET NativeAOT for amd64 only (a publish is
 * ~60 s), and only where the SDK and the native toolchain are (skipped locally, failed in CI).
 */
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { after } from "node:test";
import { tmpdir } from "node:os";
import { parsePlatform, parsePlatformList } from "../oci/platform.ts";
import { skipOrFail } from "../../test/support/index.ts";
import { checkDotnetToolchain } from "./dotnet-aot.ts";
import { compilerFor } from "./registry.ts";
import { compilerContract } from "./testing/compiler-contract.ts";
import { TOY_MARKER, toyCompilerEntry } from "./testing/toy-compiler.ts";

const HELLO = fileURLToPath(new URL("../../test/fixtures/hello-server/", import.meta.url));
const DOTNET = join(dirname(fileURLToPath(import.meta.url)), "testdata", "dotnet-runtime-libs");
const BOTH = parsePlatformList("linux/amd64,linux/arm64");

async function toyProject(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-toy-contract-"));
  after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, TOY_MARKER), JSON.stringify({ message: "hi" }));
  return dir;
}

async function dotnetMissing(): Promise<string | undefined> {
  const problems = await checkDotnetToolchain(parsePlatform("linux/amd64"));
  return problems.length ? `NativeAOT toolchain incomplete: ${problems.map((p) => p.missing).join(", ")}` : undefined;
}

compilerContract("toy (a registered entry)", { create: () => toyCompilerEntry().create(), projectDir: await toyProject(), platforms: BOTH });
compilerContract("bun", { create: () => compilerFor("bun"), projectDir: HELLO, platforms: BOTH });
compilerContract("node (SEA)", { create: () => compilerFor("node"), projectDir: HELLO, platforms: BOTH });
compilerContract("dotnet-aot (NativeAOT, amd64)", {
  create: () => compilerFor("dotnet-aot"),
  projectDir: DOTNET,
  platforms: [parsePlatform("linux/amd64")],
  skip: skipOrFail(await dotnetMissing()),
  timeoutMs: 30 * 60_000,
});
