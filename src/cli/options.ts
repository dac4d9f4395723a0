/**
 * Flag parsing every command shares (ko's style); each command's own flags live in its file
 * under commands/. Everything here throws UsageError (exit 2) for bad flags; nothing here does any work.
 */
import { parseArgs } from "node:util";
import { UsageError, errorMessage } from "../errors.ts";
import { parsePlatformList, type Platform } from "../oci/platform.ts";
import type { Flags as Options } from "./command.ts";

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

// node's messages are good ("Unknown option '--foo'"); keep them to one line.
function usageError(err: unknown): UsageError {
  return new UsageError(errorMessage(err).split("\n")[0]!.replace(/\. To specify a positional.*$/, ""));
}

export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  const config = { args: argv, options, allowPositionals: true as const, strict: true as const };
  try {
    return parseArgs(config);
  } catch (err) {
    throw usageError(err);
  }
}

/** parse, plus the tokens in argv order (verify's check flags refine each other in order). */
type ParsedWithTokens<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true; tokens: true }>>;

export function parseWithTokens<O extends Options>(argv: string[], options: O): ParsedWithTokens<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true as const, strict: true as const, tokens: true as const });
  } catch (err) {
    throw usageError(err);
  }
}

export function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(", ")} (got "${value}")`);
  return value as T;
}

function port(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--${flag} must be a port number 1-65535 (got "${value}")`);
  return n;
}

export function keyValues(flag: string, values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${flag} takes KEY=VALUE (got "${v}")`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

export const GLOBAL = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies Options;

/** Flags `run` and `verify` share for untrusted images. */
export const SANDBOX_OPTIONS = {
  "max-unpacked-size": { type: "string" },
  "unsafe-host-root": { type: "boolean" },
  memory: { type: "string" },
  "pids-limit": { type: "string" },
  cpus: { type: "string" },
  "read-only": { type: "boolean" },
} as const satisfies Options;

/** Help lines for the flags run and verify share (SANDBOX_OPTIONS, above). */
export const SANDBOX_FLAGS = `  --max-unpacked-size SIZE   refuse images that unpack to more (default 4GiB; e.g. 512MiB)
  --unsafe-host-root         allow --isolation host to run an image's root user as host root
  --memory SIZE              cgroup memory limit, e.g. 512m (verify: default 1g; 0: none)
  --pids-limit N             most processes and threads (verify: default 1024; 0: none)
  --cpus N                   CPU time, e.g. 1.5 CPUs (default: none)
  --read-only                a read-only root, as docker run --read-only (default: writable, this run's
                             own copy of the image, thrown away after it; /tmp is a tmpfs either way)`;

/** The flags that shape verify's checks and run; build --verify takes exactly these. */
export const VERIFY_CHECK_FLAGS = {
  ...SANDBOX_OPTIONS,
  http: { type: "string", multiple: true },
  "expect-status": { type: "string", multiple: true },
  "expect-json-type": { type: "string", multiple: true },
  "expect-content-type": { type: "string", multiple: true },
  "expect-body": { type: "string", multiple: true },
  "http-body": { type: "string", multiple: true },
  "http-header": { type: "string", multiple: true },
  timeout: { type: "string" },
  grace: { type: "string" },
  isolation: { type: "string" },
} as const satisfies Options;

/** `--platform all` or a comma list. */
export function platformSelection(value: string | undefined): Platform[] | "all" {
  if (value === undefined || value === "all") return "all";
  return parsePlatformList(value);
}

export { port as parsePort };
