/**
 * Test support for the .NET example: find the SDK, and build the app for the JIT
 * (`dotnet build`) into a temp folder, so the source tree gets no obj/ or bin/.
 */
import { spawn, spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const dotnetExampleDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const csprojPath = join(dotnetExampleDir, "TodoApi.csproj");

/** No telemetry, no banner, no first-run experience in test output. */
export const quietDotnetEnv: Record<string, string> = {
  DOTNET_CLI_TELEMETRY_OPTOUT: "1",
  DOTNET_NOLOGO: "1",
  DOTNET_SKIP_FIRST_TIME_EXPERIENCE: "1",
};

/** Why the .NET SDK can't be used here, or undefined when it can. */
export function dotnetMissing(): string | undefined {
  const probe = spawnSync("dotnet", ["--version"], { encoding: "utf8", timeout: 60_000, env: { ...process.env, ...quietDotnetEnv } });
  if (probe.error) return `dotnet not found on PATH (${probe.error.message}); install the .NET 10 SDK`;
  return probe.status === 0 ? undefined : `dotnet --version failed: ${probe.stderr.trim() || "no output"}`;
}

/**
 * MSBuild properties for a JIT build of the NativeAOT project. PublishAot=false, because with it
 * true even `dotnet build` restores the NativeAOT runtime pack, which this NuGet source lacks.
 * The request-delegate generator and the AOT/trim analyzers stay on, so the JIT build runs the
 * same source-generated endpoint code a NativeAOT publish would, and AOT warnings still fail loudly.
 */
export const jitBuildProperties = [
  "-p:PublishAot=false",
  "-p:EnableRequestDelegateGenerator=true",
  "-p:EnableAotAnalyzer=true",
  "-p:EnableTrimAnalyzer=true",
  "-p:TreatWarningsAsErrors=true",
  // No build servers left running after the test (MSBuild nodes, the Roslyn server).
  "-nodeReuse:false",
  "-p:UseSharedCompilation=false",
];

/** `dotnet build -c Release` into `artifactsDir`; resolves with the app's dll. Bounded by `timeoutMs`. */
export function buildForJit(artifactsDir: string, timeoutMs: number): Promise<string> {
  const args = ["build", csprojPath, "-c", "Release", "--artifacts-path", artifactsDir, "--nologo", ...jitBuildProperties];
  return new Promise((resolveBuild, reject) => {
    const child = spawn("dotnet", args, { cwd: dotnetExampleDir, env: { ...process.env, ...quietDotnetEnv }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolveBuild(join(artifactsDir, "bin", "TodoApi", "release", "TodoApi.dll"));
      else reject(new Error(`dotnet ${args.join(" ")} failed (${signal ? `killed after ${timeoutMs} ms` : `exit ${String(code)}`}):\n${output.slice(-4000)}`));
    });
  });
}

/** A loopback port free at the time of asking (one home: test/support). */
export { freePort } from "../../../test/support/index.ts";
