/** What every CLI command is: a name, its flags, its help, and a run over the public API. */
import type { Writable } from "node:stream";
import type { ParseArgsConfig } from "node:util";

export interface Io {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export interface CommandContext {
  io: Io;
  json: boolean;
}

export type Flags = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
  /** The word after `aotpack`. */
  readonly name: string;
  /** Its synopsis and one line for `aotpack --help`, e.g. "build [dir]" and "compile per platform, …". */
  readonly usage: string;
  readonly summary: string;
  /** Its flags, as node:util parseArgs takes them (the command parses argv with them). */
  readonly flags: Flags;
  /** The text `aotpack <name> --help` prints (a function: parts come from registries that can grow). */
  help(): string;
  /** Parses argv, does the work, prints; the exit code (errors are thrown, main maps them). */
  run(argv: string[], ctx: CommandContext): Promise<number>;
}
