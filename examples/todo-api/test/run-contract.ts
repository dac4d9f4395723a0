/**
 * The contract suite from a shell, for CI against a running image:
 *   node --import tsx examples/todo-api/test/run-contract.ts http://127.0.0.1:8080 [--environment Production] [--today 2026-01-31]
 * Prints one line per check; exit code 1 if any failed, 2 on bad arguments.
 */
import { todoContract } from "./contract.ts";

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

async function main(args: string[]): Promise<number> {
  const baseUrl = args[0];
  const today = option(args, "today");
  if (baseUrl === undefined || !/^https?:\/\//.test(baseUrl) || (today !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(today))) {
    console.error("usage: run-contract.ts BASE_URL [--environment NAME] [--today yyyy-MM-dd]");
    return 2;
  }
  const environment = option(args, "environment") ?? "Production";
  const results = await todoContract(baseUrl, today === undefined ? { environment } : { environment, today });
  for (const result of results) console.log(`${result.ok ? "ok  " : "FAIL"} ${result.name}${result.ok ? "" : `: ${(result.detail ?? "").replace(/\s*\n\s*/g, " ")}`}`);
  const failed = results.filter((result) => !result.ok).length;
  console.log(`${results.length - failed} of ${results.length} checks passed against ${baseUrl} (${environment})`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
