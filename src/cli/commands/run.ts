/** `aotpack run`: one platform's image without Docker. */
import { UsageError } from "../../errors.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { keyValues, parse, GLOBAL, SANDBOX_FLAGS, SANDBOX_OPTIONS } from "../options.ts";
import { isolationFlag, sandboxOptions, seconds } from "../verify-flags.ts";
import type { Command, CommandContext } from "../command.ts";
import { printLine, warnTo } from "../progress.ts";

const RUN_HELP = `Usage: aotpack run IMAGE [--platform P] [-p HOSTPORT:PORT]… [-e K=V]… [-- args…]

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

const RUN_FLAGS = {
  ...GLOBAL,
  platform: { type: "string" },
  publish: { type: "string", short: "p", multiple: true },
  env: { type: "string", short: "e", multiple: true },
  isolation: { type: "string" },
  "stop-timeout": { type: "string" },
  ...SANDBOX_OPTIONS,
  "insecure-registry": { type: "string", multiple: true },
} as const;

async function runRun(argv: string[], ctx: CommandContext): Promise<number> {
  const dashdash = argv.indexOf("--");
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const args = dashdash >= 0 ? argv.slice(dashdash + 1) : undefined;
  const { values, positionals } = parse(own, RUN_FLAGS);
  if (positionals.length !== 1) throw new UsageError("run takes one IMAGE; put the app's arguments after --");
  const { runImage, parsePortMapping } = await import("../../verify/index.ts");
  const ports = (values.publish ?? []).map(parsePortMapping);
  const { openSource } = await import("../../sources.ts");
  const src = await openSource(positionals[0]!, { insecureRegistries: values["insecure-registry"] ?? [], onWarning: warnTo(ctx) });
  // Our stdout gone (EPIPE: `aotpack run … | head`): stop the app and clean up, do not crash.
  const gone = new AbortController();
  ctx.io.stdout.on("error", () => gone.abort());
  const options: Parameters<typeof runImage>[0] = {
    image: src.item,
    ports,
    abort: gone.signal,
    ...sandboxOptions(values),
    // The app's lines come from the image: escaped like everything else we relay (colours are already stripped).
    onOutput: (line, stream) => printLine(stream === "stdout" ? ctx.io.stdout : ctx.io.stderr, line),
    onWarning: warnTo(ctx),
    onStarted: (r) => {
      const where = r.ports.map((p) => `127.0.0.1:${p.host} → ${p.container}`).join(", ");
      printLine(ctx.io.stderr, `aotpack: running ${src.name} (${r.isolationDetail}${r.emulated ? ", qemu-user" : ""})${where ? `, ${where}` : ""}`);
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

export const runCommand: Command = { name: "run", usage: "run IMAGE", summary: "run one platform's image without Docker", flags: RUN_FLAGS, help: () => RUN_HELP, run: runRun };
