/** `aotpack inspect`: platforms, layers, sizes and config of an image or index. */
import { UsageError } from "../../errors.ts";
import { GLOBAL, parse } from "../options.ts";
import type { Command, CommandContext } from "../command.ts";
import { warnTo } from "../progress.ts";
import { specSyntax } from "../../transports/index.ts";

const INSPECT_HELP = `Usage: aotpack inspect IMAGE [--json]

Prints platforms, layers, sizes and config. IMAGE: ${specSyntax("source").join(", ")}.`;

const INSPECT_FLAGS = { ...GLOBAL, "insecure-registry": { type: "string", multiple: true } } as const;

async function runInspect(argv: string[], ctx: CommandContext): Promise<number> {
  const { positionals, values } = parse(argv, INSPECT_FLAGS);
  if (positionals.length !== 1) throw new UsageError(`inspect takes one IMAGE (${specSyntax("source").join(", ")})`);
  // Loaded when inspect runs, like every command's work: start-up loads only the flags and help.
  const [{ openSource }, { inspectItem, formatInspect }] = await Promise.all([import("../../sources.ts"), import("../inspect.ts")]);
  const src = await openSource(positionals[0]!, { insecureRegistries: values["insecure-registry"] ?? [], onWarning: warnTo(ctx) });
  const info = await inspectItem(src.item, src.referrers);
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(info, null, 2)}\n` : `${formatInspect(src.name, info)}\n`);
  return 0;
}

export const inspectCommand: Command = { name: "inspect", usage: "inspect IMAGE", summary: "show platforms, layers, sizes and config of an image or index", flags: INSPECT_FLAGS, help: () => INSPECT_HELP, run: runInspect };
