/** Pick a compiler and compile every platform, a few at a time. */
import { availableParallelism } from "node:os";
import { AotpackError, UsageError, errorMessage } from "../errors.ts";
import { formatPlatform } from "../oci/platform.ts";
import { bunCompiler } from "./bun.ts";
import { dotnetAotCompiler } from "./dotnet-aot.ts";
import { nodeSeaCompiler } from "./node-sea.ts";
import type { Artifact, CompileRequest, Compiler, RuntimeKind } from "./types.ts";

export { bunCompiler } from "./bun.ts";
export { nodeSeaCompiler } from "./node-sea.ts";
export { resolveEntry } from "./entry.ts";

export function compilerFor(runtime: RuntimeKind | string): Compiler {
  switch (runtime) {
    case "bun":
      return bunCompiler();
    case "node":
      return nodeSeaCompiler();
    case "dotnet-aot":
      return dotnetAotCompiler();
    default:
      throw new UsageError(`unsupported runtime "${runtime}"; supported: bun (default), node, dotnet-aot`);
  }
}

export interface CompileAllOptions {
  /** Compiles at once; default: the core count. */
  concurrency?: number;
}

/**
 * Compile every request, at most `concurrency` at a time. All or nothing: on the first
 * failure no new compile starts, the ones running finish, and the error names the
 * platform (keeping its exit code and hint). Results keep the order of `requests`.
 */
export async function compileAll(
  compiler: Compiler,
  requests: CompileRequest[],
  options: CompileAllOptions = {},
): Promise<Artifact[]> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? availableParallelism()));
  const results: Artifact[] = new Array<Artifact>(requests.length);
  let next = 0;
  let failure: { index: number; error: unknown } | undefined;

  const worker = async (): Promise<void> => {
    while (failure === undefined && next < requests.length) {
      const index = next++;
      const request = requests[index] as CompileRequest;
      try {
        results[index] = await compiler.compile(request);
      } catch (error) {
        if (failure === undefined) failure = { index, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));

  if (failure !== undefined) {
    const platform = formatPlatform((requests[failure.index] as CompileRequest).platform);
    const err = failure.error;
    const message = errorMessage(err);
    // Errors that already name the platform are passed on unchanged.
    if (err instanceof AotpackError && message.includes(platform)) throw err;
    if (err instanceof AotpackError) {
      throw new AotpackError(`${platform}: ${message}`, { exitCode: err.exitCode, hint: err.hint, cause: err });
    }
    throw new AotpackError(`${platform}: compile failed: ${message}`, { cause: err });
  }
  return results;
}
