/**
 * verify's flags, shared by `aotpack verify` and `aotpack build --verify`. Checks keep the
 * command line's order: an --expect-* flag after an --http refines that check only (like
 * curl's per-URL options); before the first --http it fills in every check.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { UsageError, errorMessage } from "../errors.ts";
import { loadProject, type HttpCheckConfig } from "../build/config.ts";
import { GLOBAL, VERIFY_CHECK_FLAGS } from "./options.ts";
import { specSyntax } from "../transports/index.ts";

export const VERIFY_FLAGS = {
  ...GLOBAL,
  ...VERIFY_CHECK_FLAGS,
  platform: { type: "string" },
  port: { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  project: { type: "string" },
  "insecure-registry": { type: "string", multiple: true },
} as const;

type Expectations = Omit<HttpCheckConfig, "path" | "method">;

function expectation(name: string, value: string): Expectations {
  switch (name) {
    case "expect-status":
      if (!/^\d{3}$/.test(value)) throw new UsageError(`--expect-status takes an HTTP status (got "${value}")`);
      return { expectStatus: Number(value) };
    case "expect-json-type":
      if (value !== "array" && value !== "object") throw new UsageError(`--expect-json-type must be array or object (got "${value}")`);
      return { expectJsonType: value };
    case "expect-content-type":
      return { expectContentType: value };
    default:
      return { expectBody: value };
  }
}

export interface ParsedVerifyArgs {
  values: ReturnType<typeof parseVerify>["values"];
  image: string;
  checks: HttpCheckConfig[];
  /** Where the checks came from, for the progress line. */
  checksSource: string;
}

function parseVerify(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: VERIFY_FLAGS, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError(errorMessage(err).split("\n")[0]!.replace(/\. To specify a positional.*$/, ""));
  }
}

/** Parse verify's argv; the project's aotpack.verify checks apply when no --http is given. */
export async function parseVerifyArgs(argv: string[], projectChecks?: { checks: HttpCheckConfig[]; source: string }): Promise<ParsedVerifyArgs> {
  const { values, positionals, tokens } = parseVerify(argv);
  // Loaded lazily: every command imports this module, only verify needs the runner.
  const { parseHttpCheck } = await import("../verify/verify.ts");
  if (positionals.length !== 1) throw new UsageError(`verify takes one IMAGE (${specSyntax("source").join(", ")})`);
  let defaults: Expectations = {};
  const given: HttpCheckConfig[] = [];
  for (const t of tokens) {
    if (t.kind !== "option" || t.value === undefined) continue;
    if (t.name === "http") given.push(parseHttpCheck(t.value));
    else if (t.name.startsWith("expect-")) {
      const e = expectation(t.name, t.value);
      if (given.length) Object.assign(given[given.length - 1]!, e);
      else defaults = { ...defaults, ...e };
    }
  }
  let project = projectChecks;
  if (values.project !== undefined) {
    const p = await loadProject(resolve(values.project));
    project = { checks: p.config.verify ?? [], source: p.configSource ? `${p.configSource} aotpack.verify` : "" };
    if (!project.checks.length && !given.length) throw new UsageError(`--project ${values.project}: no aotpack.verify checks in its package.json or aotpack.config.json`);
  }
  // Defaults only fill in what a check leaves open.
  const fill = (c: HttpCheckConfig): HttpCheckConfig => ({ ...defaults, ...c });
  if (given.length) return { values, image: positionals[0]!, checks: given.map(fill), checksSource: "--http" };
  if (project?.checks.length) return { values, image: positionals[0]!, checks: project.checks.map(fill), checksSource: project.source };
  return { values, image: positionals[0]!, checks: [{ path: "/", ...defaults }], checksSource: "the default GET /" };
}
