/** The composition root's list: every command, in the order `aotpack --help` names them. */
import type { Command } from "../command.ts";
import { buildCommandSpec } from "./build.ts";
import { cacheCommand } from "./cache.ts";
import { dockerfileCommand } from "./dockerfile.ts";
import { inspectCommand } from "./inspect.ts";
import { lintCommand } from "./lint.ts";
import { runCommand } from "./run.ts";
import { sbomCommand } from "./sbom.ts";
import { setupBinfmtCommand } from "./setup-binfmt.ts";
import { verifyCommand } from "./verify.ts";

export const COMMANDS: readonly Command[] = [
  buildCommandSpec,
  inspectCommand,
  verifyCommand,
  runCommand,
  dockerfileCommand,
  lintCommand,
  setupBinfmtCommand,
  cacheCommand,
  sbomCommand,
];
