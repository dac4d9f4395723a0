/** `aotpack sbom`: the SBOM attached to one platform image. */
import { UsageError } from "../../errors.ts";
import { parsePlatform } from "../../oci/platform.ts";
import { parseSbomFormat } from "../../sbom/formats.ts";
import { GLOBAL, parse } from "../options.ts";
import type { Command, CommandContext } from "../command.ts";
import { warnTo } from "../progress.ts";
import { specSyntax } from "../../transports/index.ts";

const SBOM_HELP = `Usage: aotpack sbom IMAGE [--platform P] [--format spdx|cyclonedx] [--json]

Prints the SBOM attached to one platform image (default: the only one, else this host's).
IMAGE: ${specSyntax("source").join(", ")}.`;

const SBOM_FLAGS = { ...GLOBAL, platform: { type: "string" }, format: { type: "string" }, "insecure-registry": { type: "string", multiple: true } } as const;

async function runSbom(argv: string[], ctx: CommandContext): Promise<number> {
  const { positionals, values } = parse(argv, SBOM_FLAGS);
  if (positionals.length !== 1) throw new UsageError(`sbom takes one IMAGE (${specSyntax("source").join(", ")})`);
  const format = values.format === undefined ? undefined : parseSbomFormat(values.format);
  if (format === "none") throw new UsageError("--format must be spdx or cyclonedx");
  const { openSource } = await import("../../sources.ts");
  const { readSbom } = await import("../../sbom/read.ts");
  const src = await openSource(positionals[0]!, { insecureRegistries: values["insecure-registry"] ?? [], onWarning: warnTo(ctx) });
  const sbom = await readSbom(src.item, { ...(values.platform ? { platform: parsePlatform(values.platform) } : {}), ...(format ? { format } : {}), ...(src.referrers ? { referrers: src.referrers } : {}), onWarning: warnTo(ctx) });
  // The document is the answer with or without --json.
  ctx.io.stdout.write(`${JSON.stringify(sbom.document, null, 2)}\n`);
  return 0;
}

export const sbomCommand: Command = { name: "sbom", usage: "sbom IMAGE", summary: "print the SBOM attached to one platform's image", flags: SBOM_FLAGS, help: () => SBOM_HELP, run: runSbom };
