/** `aotpack lint`: check Dockerfiles for the multi-platform and NativeAOT pitfalls (--fix rewrites). */
import { resolve } from "node:path";
import { parse, GLOBAL } from "../options.ts";
import type { Command, CommandContext } from "../command.ts";

const LINT_FLAGS = { ...GLOBAL, fix: { type: "boolean" } } as const;

const LINT_HELP = `Usage: aotpack lint [Dockerfile…] [--fix] [--json]

Checks Dockerfiles (.NET ones included) for the multi-platform and NativeAOT pitfalls:
emulated build stages, undeclared TARGETARCH, publish without -a/-r, missing cross toolchain,
oversized final bases, *.dbg in the image, root final stage, shell-form ENTRYPOINT/CMD,
apt-get without --no-install-recommends or list cleanup. Exit 1 when anything is found.

  --fix     rewrite what can be rewritten, keeping every other instruction as it was`;

async function runLint(argv: string[], ctx: CommandContext): Promise<number> {
  const { values, positionals } = parse(argv, LINT_FLAGS);
  const files = positionals.length ? positionals : ["Dockerfile"];
  const { lintDockerfileFile, fixDockerfileFile, formatFindings } = await import("../../dockerfile/index.ts");
  const all = [];
  const fixed: { file: string; applied: string[] }[] = [];
  for (const f of files) {
    const path = resolve(f);
    if (values.fix) {
      const r = await fixDockerfileFile(path);
      if (r.changed) fixed.push({ file: f, applied: r.applied });
      all.push(...r.remaining.map((x) => ({ ...x, file: f })));
    } else {
      all.push(...(await lintDockerfileFile(path)).map((x) => ({ ...x, file: f })));
    }
  }
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify({ findings: all, fixed }, null, 2)}\n`);
  else {
    for (const f of fixed) ctx.io.stdout.write(`fixed ${f.file}: ${f.applied.join("; ")}\n`);
    if (all.length) ctx.io.stdout.write(`${formatFindings(all)}\n`);
    ctx.io.stdout.write(`${all.length} finding${all.length === 1 ? "" : "s"} in ${files.length} file${files.length === 1 ? "" : "s"}\n`);
  }
  return all.length ? 1 : 0;
}

export const lintCommand: Command = { name: "lint", usage: "lint [Dockerfile…]", summary: "check Dockerfiles for multi-platform/NativeAOT pitfalls (--fix rewrites)", flags: LINT_FLAGS, help: () => LINT_HELP, run: runLint };
