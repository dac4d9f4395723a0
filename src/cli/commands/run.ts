/** `verify`, `run` and `setup-binfmt`: run images without Docker. */
import { UsageError } from "../errors.ts";
import type { HttpCheckConfig } from "../build/config.ts";
import { parsePlatform } from "../oci/platform.ts";
import { keyValues, parse, parsePort, platformSelection, GLOBAL, SANDBOX_OPTIONS } from "./options.ts";
import { parseVerifyArgs } from "./verify-flags.ts";
import { loadProject } from "../build/config.ts";
import type { CommandContext } from "./commands.ts";

const SANDBOX_FLAGS = `  --max-unpacked-size SIZE   refuse images that unpack to more (default 4GiB; e.g. 512MiB)
  --unsafe-host-root         allow --isolation host to run an image's root user as host root`;

export const VERIFY_HELP = `Usage: aotpack verify IMAGE [--platform all|LIST] [--http 'GET /path [STATUS] [array|object]']… [options]

Runs every platform's image without Docker (foreign CPUs under qemu-user), waits for its port,
checks the HTTP answers, measures startup time and RSS, then requires a clean exit on SIGTERM.

  --platform all|LIST        platforms to verify (default all)
  --http 'METHOD PATH [STATUS] [array|object]'   a check (repeatable; default 'GET /')
  --expect-status N          the status (default 200)
  --expect-json-type T       array|object
  --expect-content-type CT   the content type must start with this
  --expect-body TEXT         the body must contain this
                             (an --expect-* flag after an --http refines that check only;
                             before the first --http, every check)
  --project DIR              use DIR's aotpack.verify checks (default: the current directory's, if any)
  --port N                   the app's port in the image (default: from ExposedPorts/PORT, else 8080)
  -e, --env K=V              extra environment (repeatable)
  --timeout S                seconds to wait for the first good response (default 30)
  --grace S                  seconds the app may take to exit after SIGTERM (default 5)
  --isolation auto|namespaces|rootless-namespaces|host   (default auto: runc's sandbox)
${SANDBOX_FLAGS}
  --json                     print the report as JSON`;


/** "4GiB", "512MiB", "100M", "1048576" → bytes. */
export function parseSize(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(v.trim());
  const scale = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[(m?.[2] ?? "").toUpperCase()];
  if (!m || scale === undefined || Number(m[1]) <= 0) throw new UsageError(`--${flag} takes a size such as 4GiB or 512MiB (got "${v}")`);
  return Math.floor(Number(m[1]) * scale);
}

function sandboxOptions(values: { "max-unpacked-size"?: string; "unsafe-host-root"?: boolean }): { limits?: { maxUnpackedBytes: number }; unsafeHostRoot?: boolean } {
  const out: { limits?: { maxUnpackedBytes: number }; unsafeHostRoot?: boolean } = {};
  if (values["max-unpacked-size"] !== undefined) out.limits = { maxUnpackedBytes: parseSize("max-unpacked-size", values["max-unpacked-size"]) };
  if (values["unsafe-host-root"]) out.unsafeHostRoot = true;
  return out;
}

/** Like npm, verify run inside a project reads its package.json (or aotpack.config.json): aotpack.verify. */
async function checksInCwd(): Promise<{ checks: HttpCheckConfig[]; source: string } | undefined> {
  const p = await loadProject(process.cwd()).catch(() => undefined);
  return p?.config.verify?.length && p.configSource ? { checks: p.config.verify, source: `${p.configSource} aotpack.verify` } : undefined;
}

const ISOLATIONS = ["auto", "namespaces", "rootless-namespaces", "host"] as const;

function isolationFlag(v: string | undefined): (typeof ISOLATIONS)[number] | undefined {
  if (v === undefined) return undefined;
  if (!(ISOLATIONS as readonly string[]).includes(v)) throw new UsageError(`--isolation must be one of ${ISOLATIONS.join(", ")} (got "${v}")`);
  return v as (typeof ISOLATIONS)[number];
}

function seconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} takes a number of seconds (got "${v}")`);
  return n * 1000;
}

export async function runVerify(argv: string[], ctx: CommandContext): Promise<number> {
  const report = await verifyClosingOnSignals(argv, ctx);
  if (typeof report === "number") return report;
  const { formatVerifyReport } = await import("../verify/index.ts");
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report)}\n`);
  return report.ok ? 0 : 1;
}

/**
 * verifyFromArgs where Ctrl-C or SIGTERM kills the apps and removes their rootfs: the report, or
 * the exit code 128+N when a signal stopped it (the report would only say that its runs were closed).
 */
export async function verifyClosingOnSignals(...args: Parameters<typeof verifyFromArgs>): Promise<Awaited<ReturnType<typeof verifyFromArgs>> | number> {
  const { closeRunsOnSignals } = await import("../verify/index.ts");
  const signals = closeRunsOnSignals();
  try {
    const report = await verifyFromArgs(...args);
    return (await signals.interrupted()) ?? report;
  } catch (err) {
    const code = await signals.interrupted();
    if (code !== undefined) return code;
    throw err;
  } finally {
    signals.uninstall();
  }
}

/** Parse verify's flags and run it; the caller prints (build --verify folds it into its own output). */
export async function verifyFromArgs(argv: string[], ctx: CommandContext, projectChecks?: { checks: HttpCheckConfig[]; source: string }) {
  const { values, image, checks, checksSource } = await parseVerifyArgs(argv, projectChecks ?? (await checksInCwd()));
  ctx.io.stderr.write(`verify: ${checks.length} check${checks.length === 1 ? "" : "s"} from ${checksSource}\n`);
  const { verifyImage } = await import("../verify/index.ts");
  const isolation = isolationFlag(values.isolation);
  const platforms = platformSelection(values.platform);

  const { openSource } = await import("../sources.ts");
  const src = await openSource(image, { insecureRegistries: values["insecure-registry"] ?? [] });
  const options: Parameters<typeof verifyImage>[0] = {
    image: src.item,
    platforms,
    checks,
    onProgress: (m) => ctx.io.stderr.write(`${m}\n`),
    onWarning: (m) => ctx.io.stderr.write(`warning: ${m}\n`),
    ...sandboxOptions(values),
  };
  const port = parsePort("port", values.port);
  if (port !== undefined) options.port = port;
  if (values.env) options.env = keyValues("env", values.env);
  const timeout = seconds("timeout", values.timeout);
  if (timeout !== undefined) options.timeoutMs = timeout;
  const grace = seconds("grace", values.grace);
  if (grace !== undefined) options.stopGraceMs = grace;
  if (isolation) options.isolation = isolation;
  return verifyImage(options);
}

export const RUN_HELP = `Usage: aotpack run IMAGE [--platform P] [-p HOSTPORT:PORT]… [-e K=V]… [-- args…]

Runs one platform's image without Docker: unpacks it safely, runs the entrypoint as the image's user
in mount/PID/network namespaces (or on the host's loopback when namespaces are unavailable),
foreign CPUs under qemu-user. Forwards SIGTERM/SIGINT and exits with the app's code.

  --platform P               which platform of an index (default: the host's)
  -p, --publish [H:]C        forward 127.0.0.1:H to the app's port C (repeatable)
  -e, --env K=V              extra environment (repeatable)
  --isolation auto|namespaces|rootless-namespaces|host
  --stop-timeout S           after SIGTERM/SIGINT, SIGKILL the app if it is still running (default 10);
                             a second Ctrl-C kills it at once
${SANDBOX_FLAGS}`;

export async function runRun(argv: string[], ctx: CommandContext): Promise<number> {
  const dashdash = argv.indexOf("--");
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const args = dashdash >= 0 ? argv.slice(dashdash + 1) : undefined;
  const { values, positionals } = parse(own, {
    ...GLOBAL,
    platform: { type: "string" },
    publish: { type: "string", short: "p", multiple: true },
    env: { type: "string", short: "e", multiple: true },
    isolation: { type: "string" },
    "stop-timeout": { type: "string" },
    ...SANDBOX_OPTIONS,
    "insecure-registry": { type: "string", multiple: true },
  });
  if (positionals.length !== 1) throw new UsageError("run takes one IMAGE; put the app's arguments after --");
  const { runImage, parsePortMapping } = await import("../verify/index.ts");
  const ports = (values.publish ?? []).map(parsePortMapping);
  const { openSource } = await import("../sources.ts");
  const src = await openSource(positionals[0]!, { insecureRegistries: values["insecure-registry"] ?? [] });
  // Our stdout gone (EPIPE: `aotpack run … | head`): stop the app and clean up, do not crash.
  const gone = new AbortController();
  ctx.io.stdout.on("error", () => gone.abort());
  const options: Parameters<typeof runImage>[0] = {
    image: src.item,
    ports,
    abort: gone.signal,
    ...sandboxOptions(values),
    onOutput: (line, stream) => (stream === "stdout" ? ctx.io.stdout : ctx.io.stderr).write(`${line}\n`),
    onWarning: (m) => ctx.io.stderr.write(`warning: ${m}\n`),
    onStarted: (r) => {
      const where = r.ports.map((p) => `127.0.0.1:${p.host} → ${p.container}`).join(", ");
      ctx.io.stderr.write(`aotpack: running ${src.name} (${r.isolationDetail}${r.emulated ? ", qemu-user" : ""})${where ? `, ${where}` : ""}\n`);
    },
  };
  if (values.platform) options.platform = parsePlatform(values.platform);
  if (values.env) options.env = keyValues("env", values.env);
  if (args) options.args = args;
  const stopTimeout = seconds("stop-timeout", values["stop-timeout"]);
  if (stopTimeout !== undefined) options.stopTimeoutMs = stopTimeout;
  const isolation = isolationFlag(values.isolation);
  if (isolation) options.isolation = isolation;
  return runImage(options);
}

export const SETUP_BINFMT_HELP = `Usage: aotpack setup-binfmt

Registers qemu-aarch64 (from Debian's qemu-user-static) with binfmt_misc, with the fix-binary
flag, so arm64 images run inside their own rootfs. Needs root. Idempotent.`;

export async function runSetupBinfmt(argv: string[], ctx: CommandContext): Promise<number> {
  parse(argv, GLOBAL);
  const { setupBinfmt } = await import("../verify/index.ts");
  const r = await setupBinfmt();
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(r)}\n` : `binfmt_misc: ${r.status} (${r.interpreter}${r.mounted ? ", mounted binfmt_misc" : ""})\n`);
  return 0;
}
