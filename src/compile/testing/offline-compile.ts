/**
 * Test helper run as a child under `unshare -n` (no network at all): compiles the
 * requests given as JSON in argv[2] and prints the artifacts (or the error) as JSON.
 * Proves a compile needs nothing beyond the runtime cache.
 */
import { AotpackError, errorMessage } from "../../errors.ts";
import { compileAll, compilerFor } from "../index.ts";
import type { CompileRequest, RuntimeKind } from "../types.ts";

const input = JSON.parse(process.argv[2] ?? "{}") as { runtime: RuntimeKind; requests: CompileRequest[] };
try {
  const artifacts = await compileAll(await compilerFor(input.runtime), input.requests);
  process.stdout.write(JSON.stringify({ artifacts }));
} catch (err) {
  process.stdout.write(
    JSON.stringify({ error: errorMessage(err), exitCode: err instanceof AotpackError ? err.exitCode : undefined }),
  );
  process.exitCode = 1;
}
