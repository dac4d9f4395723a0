/**
 * The CLI: a thin layer over the public API. It parses flags (options.ts), calls the
 * library, prints, and maps errors to exit codes: 0 ok, 1 failed, 2 usage.
 * It is the only module that may call process.exit (and only via bin/aotpack.js).
 */
import { aotpackVersion } from "../version.ts";
import { AotpackError, UsageError, errorMessage } from "../errors.ts";
import { redactText } from "../redact.ts";
import { escapeControls } from "../ansi.ts";
import type { CommandContext, Io } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";
import { specSyntax, transportsJson } from "../transports/index.ts";

export type { Io } from "./command.ts";

export const HELP = `aotpack — tiny multi-platform container images of ahead-of-time compiled APIs, daemonless

Usage: aotpack <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.usage.padEnd(20)}${c.usage.length >= 20 ? "  " : ""}${c.summary}`).join("\n")}

IMAGE is ${specSyntax("source").join(", ")} or a registry reference.
Outputs (build -o, repeatable): ${specSyntax("sink").join("  ")}

Global options:
  --json        machine-readable output on stdout (progress goes to stderr as plain lines)
  -h, --help    help for a command
  -v, --version print the version

Run 'aotpack <command> --help' for a command's options.
Exit codes: 0 ok, 1 failed, 2 usage.`;

export function version(): string {
  return aotpackVersion();
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    // --json: what a tool needs to build arguments: the commands and the transports.
    if (rest.includes("--json")) io.stdout.write(`${JSON.stringify({ commands: COMMANDS.map((c) => c.name), transports: transportsJson() })}\n`);
    else io.stdout.write(`${HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    io.stdout.write(rest.includes("--json") ? `${JSON.stringify({ version: version() })}\n` : `aotpack ${version()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  const json = rest.includes("--json");
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`, { hint: "run 'aotpack --help' for the commands" });
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout.write(`${command.help()}\n`);
      return 0;
    }
    const ctx: CommandContext = { io, json };
    return await command.run(rest, ctx);
  } catch (err) {
    const exitCode = err instanceof AotpackError ? err.exitCode : 1;
    // Last line of defence: no URL reaches stderr or --json with its credentials.
    const message = redactText(errorMessage(err).split("\n")[0] ?? "");
    const hint = err instanceof AotpackError && err.hint ? redactText(err.hint) : undefined;
    if (json) {
      io.stdout.write(`${JSON.stringify({ ok: false, error: message, ...(hint ? { hint } : {}), exitCode })}\n`);
    }
    // A message can quote a registry, an image or a layout: the terminal gets it escaped, --json exact.
    io.stderr.write(`aotpack: error: ${escapeControls(message)}\n${hint ? `hint: ${escapeControls(hint)}\n` : ""}`);
    if (!(err instanceof AotpackError) && process.env.AOTPACK_DEBUG) io.stderr.write(`${(err as Error).stack}\n`);
    return exitCode;
  }
}
