/** `aotpack setup-binfmt`: register qemu-user with binfmt_misc. */
import { parse, GLOBAL } from "../options.ts";
import type { Command, CommandContext } from "../command.ts";

const SETUP_BINFMT_HELP = `Usage: aotpack setup-binfmt

Registers qemu-aarch64 (from Debian's qemu-user-static) with binfmt_misc, with the fix-binary
flag, so arm64 images run inside their own rootfs. Needs root. Idempotent.`;

async function runSetupBinfmt(argv: string[], ctx: CommandContext): Promise<number> {
  parse(argv, GLOBAL);
  const { setupBinfmt } = await import("../../verify/index.ts");
  const r = await setupBinfmt();
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(r)}\n` : `binfmt_misc: ${r.status} (${r.interpreter}${r.mounted ? ", mounted binfmt_misc" : ""})\n`);
  return 0;
}

export const setupBinfmtCommand: Command = { name: "setup-binfmt", usage: "setup-binfmt", summary: "register qemu-user with binfmt_misc (root)", flags: GLOBAL, help: () => SETUP_BINFMT_HELP, run: runSetupBinfmt };
