/** `aotpack verify`: run every platform's image, check its HTTP answers and its SIGTERM exit. */
import type { HttpCheckConfig } from "../../builder/config.ts";
import { loadProject } from "../../builder/config.ts";
import type { Platform } from "../../oci/platform.ts";
import type { VerifyReport } from "../../verify/verify.ts";
import { keyValues, parsePort, platformSelection, SANDBOX_FLAGS } from "../options.ts";
import { parseVerifyArgs, verifyRunOptions, VERIFY_FLAGS, type VerifyRunOptions } from "../verify-flags.ts";
import type { Command, CommandContext } from "../command.ts";
import { printLine, warnTo } from "../progress.ts";

const VERIFY_HELP = `Usage: aotpack verify IMAGE [--platform all|LIST] [--http 'GET /path [STATUS] [array|object]' [--http-body B]]… [options]

Runs every platform's image without Docker (foreign CPUs under qemu-user), waits for its port,
checks the HTTP answers, measures startup time and RSS, then requires a clean exit on SIGTERM.

  --platform all|LIST        platforms to verify (default all)
  --http 'METHOD PATH [STATUS] [array|object]'   a check (repeatable; default 'GET /')
  --expect-status N          the status (default 200)
  --expect-json-type T       array|object
  --expect-content-type CT   the content type must start with this
  --expect-body TEXT         the body must contain this
  --http-body TEXT           the request's body (JSON text is sent as application/json), e.g. for POST/PUT
  --http-header 'NAME: V'    a request header (repeatable), e.g. 'Authorization: Bearer t'
                             (an --expect-*/--http-body/--http-header flag after an --http refines that
                             check only; before the first --http, every check)
  --project DIR              use DIR's aotpack.verify checks (default: the current directory's, if any)
  --port N                   the app's port in the image (default: from ExposedPorts/PORT, else 8080)
  -e, --env K=V              extra environment (repeatable)
  --timeout S                seconds to wait for the first good response (default 30)
  --grace S                  seconds the app may take to exit after SIGTERM (default 5)
  --isolation auto|namespaces|rootless-namespaces|host   (default auto: runc's sandbox)
${SANDBOX_FLAGS}
  --json                     print the report as JSON`;


/** Like npm, verify run inside a project reads its package.json (or aotpack.config.json): aotpack.verify. */
async function checksInCwd(): Promise<{ checks: HttpCheckConfig[]; source: string } | undefined> {
  const p = await loadProject(process.cwd()).catch(() => undefined);
  return p?.config.verify?.length && p.configSource ? { checks: p.config.verify, source: `${p.configSource} aotpack.verify` } : undefined;
}

/** A verify, typed: what `aotpack verify` parses from its argv and `build --verify` assembles from its plan. */
export interface VerifyRequest {
  /** An image reference as `openSource` takes it (oci:DIR:tag, registry:REF …). */
  image: string;
  platforms: Platform[] | "all";
  checks: HttpCheckConfig[];
  /** Where the checks came from, for the progress line. */
  checksSource: string;
  insecureRegistries: readonly string[];
  /** The app's port inside the image and extra environment (verify's --port, -e). */
  port?: number;
  env?: Record<string, string>;
  run: VerifyRunOptions;
}

async function runVerify(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, image, checks, checksSource } = await parseVerifyArgs(argv, await checksInCwd());
  const request: VerifyRequest = { image, platforms: platformSelection(values.platform), checks, checksSource, insecureRegistries: values["insecure-registry"] ?? [], run: verifyRunOptions(values) };
  const port = parsePort("port", values.port);
  if (port !== undefined) request.port = port;
  if (values.env) request.env = keyValues("env", values.env);
  const report = await verifyClosingOnSignals(request, ctx);
  if (typeof report === "number") return report;
  const { formatVerifyReport } = await import("../../verify/index.ts");
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report)}\n`);
  return report.ok ? 0 : 1;
}

/**
 * verifyImage where Ctrl-C or SIGTERM kills the apps and removes their rootfs: the report, or
 * the exit code 128+N when a signal stopped it (the report would only say that its runs were closed).
 */
export async function verifyClosingOnSignals(request: VerifyRequest, ctx: CommandContext): Promise<VerifyReport | number> {
  const { closeRunsOnSignals } = await import("../../verify/index.ts");
  const signals = closeRunsOnSignals();
  try {
    const report = await verify(request, ctx);
    return (await signals.interrupted()) ?? report;
  } catch (err) {
    const code = await signals.interrupted();
    if (code !== undefined) return code;
    throw err;
  } finally {
    signals.uninstall();
  }
}

/** Open the image and verify it; the caller prints (build --verify folds the report into its own output). */
async function verify(request: VerifyRequest, ctx: CommandContext): Promise<VerifyReport> {
  const { checks } = request;
  ctx.io.stderr.write(`verify: ${checks.length} check${checks.length === 1 ? "" : "s"} from ${request.checksSource}\n`);
  const { verifyImage } = await import("../../verify/index.ts");
  const { openSource } = await import("../../sources.ts");
  const src = await openSource(request.image, { insecureRegistries: [...request.insecureRegistries], onWarning: warnTo(ctx) });
  const options: Parameters<typeof verifyImage>[0] = {
    image: src.item,
    platforms: request.platforms,
    checks,
    onProgress: (m) => printLine(ctx.io.stderr, m),
    onWarning: warnTo(ctx),
    ...request.run,
  };
  if (request.port !== undefined) options.port = request.port;
  if (request.env) options.env = request.env;
  return verifyImage(options);
}

export const verifyCommand: Command = { name: "verify", usage: "verify IMAGE", summary: "run every platform's image (qemu-user for foreign CPUs), check HTTP and SIGTERM", flags: VERIFY_FLAGS, help: () => VERIFY_HELP, run: runVerify };
