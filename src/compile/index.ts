/** Pick a compiler and compile every platform, a few at a time. */
import { availableParallelism } from "node:os";
import { AotpackError, errorMessage } from "../errors.ts";
import { formatPlatform } from "../oci/platform.ts";
import { limiter } from "../limit.ts";
import type { Artifact, CompileRequest, Compiler } from "./types.ts";

export { bunCompiler } from "./bun.ts";
export { nodeSeaCompiler } from "./node-sea.ts";
export { resolveEntry } from "./entry.ts";
export {
  compilerFor,
  compilerEntry,
  compilerEntries,
  detectRuntime,
  registerCompiler,
  runtimeKinds,
  isRuntimeKind,
  DEFAULT_RUNTIME,
  BUILTIN_COMPILERS,
  type CompilerEntry,
  type DockerfileRequest,
} from "./registry.ts";

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
  let failure: { index: number; error: unknown } | undefined;
  const limit = limiter(concurrency);
  await Promise.all(
    requests.map((request, index) =>
      limit.run(async () => {
        if (failure !== undefined) return; // all or nothing: nothing new starts after a failure
        try {
          results[index] = await compiler.compile(request);
        } catch (error) {
          failure ??= { index, error };
        }
      }),
    ),
  );

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
