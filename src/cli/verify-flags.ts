/**
 * verify's flags, shared by `aotpack verify` and `aotpack build --verify`. Checks keep the
 * command line's order: an --expect-* flag after an --http refines that check only (like
 * curl's per-URL options); before the first --http it fills in every check.
 */
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { isHeader, loadProject, type HttpCheckConfig } from "../builder/config.ts";
import type { VerifyOptions } from "../verify/verify.ts";
import { GLOBAL, VERIFY_CHECK_FLAGS, parseWithTokens } from "./options.ts";
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
    case "http-body":
      return { body: value };
    case "http-header": {
      const colon = value.indexOf(":");
      const key = value.slice(0, colon).trim();
      if (colon <= 0 || !isHeader(key, value.slice(colon + 1).trim())) throw new UsageError(`--http-header takes "Name: value" (got "${value}")`);
      return { headers: { [key]: value.slice(colon + 1).trim() } };
    }
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
  return parseWithTokens(argv, VERIFY_FLAGS);
}

/** One --http or --expect-* flag as given; their order matters (an --expect-* refines the --http before it). */
export interface CheckFlag {
  name: string;
  value: string;
}

type Token = { kind: string; name?: string; value?: string | undefined };

/** The --http and --expect-* flags among parseArgs tokens, in order. */
export function checkFlagsIn(tokens: readonly Token[]): CheckFlag[] {
  const out: CheckFlag[] = [];
  for (const t of tokens) {
    if (t.kind !== "option" || t.value === undefined || t.name === undefined) continue;
    if (t.name.startsWith("http") || t.name.startsWith("expect-")) out.push({ name: t.name, value: t.value });
  }
  return out;
}

export interface ProjectChecks {
  checks: readonly HttpCheckConfig[];
  source: string;
}

/** The checks a verify runs: the flags' (refined in order), else the project's aotpack.verify, else GET /. */
export async function resolveChecks(flags: readonly CheckFlag[], project: ProjectChecks | undefined): Promise<{ checks: HttpCheckConfig[]; checksSource: string }> {
  // Loaded lazily: every command imports this module, only verify needs the runner.
  const { parseHttpCheck } = await import("../verify/verify.ts");
  let defaults: Expectations = {};
  const given: HttpCheckConfig[] = [];
  // Headers add up (each --http-header one more); every other refinement replaces.
  const refine = <T extends Expectations>(target: T, e: Expectations): T =>
    Object.assign(target, e, e.headers ? { headers: { ...target.headers, ...e.headers } } : {});
  for (const f of flags) {
    if (f.name === "http") given.push(parseHttpCheck(f.value));
    else {
      const e = expectation(f.name, f.value);
      if (given.length) refine(given[given.length - 1]!, e);
      else defaults = refine({ ...defaults }, e);
    }
  }
  // Defaults only fill in what a check leaves open (a check's headers come after the defaults').
  const fill = (c: HttpCheckConfig): HttpCheckConfig => {
    const headers = defaults.headers || c.headers ? { headers: { ...defaults.headers, ...c.headers } } : {};
    return { ...defaults, ...c, ...headers };
  };
  if (given.length) return { checks: given.map(fill), checksSource: "--http" };
  if (project?.checks.length) return { checks: project.checks.map(fill), checksSource: project.source };
  return { checks: [{ path: "/", ...defaults }], checksSource: "the default GET /" };
}

/** Parse verify's argv; the project's aotpack.verify checks apply when no --http is given. */
export async function parseVerifyArgs(argv: string[], projectChecks?: ProjectChecks): Promise<ParsedVerifyArgs> {
  const { values, positionals, tokens } = parseVerify(argv);
  if (positionals.length !== 1) throw new UsageError(`verify takes one IMAGE (${specSyntax("source").join(", ")})`);
  const flags = checkFlagsIn(tokens);
  let project = projectChecks;
  if (values.project !== undefined) {
    const p = await loadProject(resolve(values.project));
    project = { checks: p.config.verify ?? [], source: p.configSource ? `${p.configSource} aotpack.verify` : "" };
    if (!project.checks.length && !flags.some((f) => f.name === "http")) throw new UsageError(`--project ${values.project}: no aotpack.verify checks in its package.json or aotpack.config.json`);
  }
  return { values, image: positionals[0]!, ...(await resolveChecks(flags, project)) };
}

// ---- the run options verify's flags set (build --verify takes the same) -------------------

/** "4GiB", "512MiB", "100M", "1048576" → bytes. */
export function parseSize(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(v.trim());
  const scale = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[(m?.[2] ?? "").toUpperCase()];
  if (!m || scale === undefined || Number(m[1]) <= 0) throw new UsageError(`--${flag} takes a size such as 4GiB or 512MiB (got "${v}")`);
  return Math.floor(Number(m[1]) * scale);
}

/** The flags `run` and `verify` share for untrusted images, as run options. */
export function sandboxOptions(values: Parameters<typeof resourceFlags>[0] & { "max-unpacked-size"?: string; "unsafe-host-root"?: boolean; "read-only"?: boolean }): Pick<VerifyOptions, "limits" | "unsafeHostRoot" | "resources" | "readOnly"> {
  const out: Pick<VerifyOptions, "limits" | "unsafeHostRoot" | "resources" | "readOnly"> = {};
  const resources = resourceFlags(values);
  if (resources) out.resources = resources;
  if (values["max-unpacked-size"] !== undefined) out.limits = { maxUnpackedBytes: parseSize("max-unpacked-size", values["max-unpacked-size"]) };
  if (values["unsafe-host-root"]) out.unsafeHostRoot = true;
  if (values["read-only"]) out.readOnly = true;
  return out;
}

const ISOLATIONS = ["auto", "namespaces", "rootless-namespaces", "host"] as const;

export function isolationFlag(v: string | undefined): (typeof ISOLATIONS)[number] | undefined {
  if (v === undefined) return undefined;
  if (!(ISOLATIONS as readonly string[]).includes(v)) throw new UsageError(`--isolation must be one of ${ISOLATIONS.join(", ")} (got "${v}")`);
  return v as (typeof ISOLATIONS)[number];
}

/** Seconds → milliseconds. */
export function seconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} takes a number of seconds (got "${v}")`);
  return n * 1000;
}

/** What verify's run flags ask for (not the image, platforms or checks). */
export type VerifyRunOptions = Pick<VerifyOptions, "timeoutMs" | "stopGraceMs" | "isolation" | "limits" | "unsafeHostRoot" | "resources" | "readOnly">;

/** The run options of VERIFY_CHECK_FLAGS' values (verify and build --verify). */
export function verifyRunOptions(values: Parameters<typeof sandboxOptions>[0] & { timeout?: string; grace?: string; isolation?: string }): VerifyRunOptions {
  const out: VerifyRunOptions = sandboxOptions(values);
  const timeout = seconds("timeout", values.timeout);
  if (timeout !== undefined) out.timeoutMs = timeout;
  const grace = seconds("grace", values.grace);
  if (grace !== undefined) out.stopGraceMs = grace;
  const isolation = isolationFlag(values.isolation);
  if (isolation) out.isolation = isolation;
  return out;
}

/** "512m", "1g", "1GiB", "268435456" → bytes, as docker's --memory takes them; "0" → 0 (no limit). */
function memoryBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(i?b)?$/i.exec(v.trim());
  const scale = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m?.[2] ?? "").toLowerCase()];
  if (!m || scale === undefined) throw new UsageError(`--memory takes a size such as 512m or 1g, or 0 for no limit (got "${v}")`);
  const bytes = Math.floor(Number(m[1]) * scale);
  // Below this even a static binary's first page faults trip the OOM killer: a typo, not a limit.
  if (bytes !== 0 && bytes < 6 * 1024 ** 2) throw new UsageError(`--memory must be at least 6m (got "${v}")`);
  return bytes;
}

/**
 * --memory, --pids-limit and --cpus (docker run's names and units); 0 turns a limit off.
 * Only the flags given: verify fills in its defaults (DEFAULT_VERIFY_RESOURCES), run has none.
 */
export function resourceFlags(values: { memory?: string; "pids-limit"?: string; cpus?: string }): { memoryBytes?: number; pids?: number; cpus?: number } | undefined {
  const out: { memoryBytes?: number; pids?: number; cpus?: number } = {};
  if (values.memory !== undefined) out.memoryBytes = memoryBytes(values.memory);
  const pids = values["pids-limit"];
  if (pids !== undefined) {
    if (!/^(0|-1|[1-9]\d*)$/.test(pids.trim())) throw new UsageError(`--pids-limit takes a number of processes, or 0 for no limit (got "${pids}")`);
    out.pids = Math.max(0, Number(pids));
  }
  if (values.cpus !== undefined) {
    const n = Number(values.cpus);
    if (!/^\d+(\.\d+)?$/.test(values.cpus.trim()) || !Number.isFinite(n)) throw new UsageError(`--cpus takes a number of CPUs such as 1.5, or 0 for no limit (got "${values.cpus}")`);
    out.cpus = n;
  }
  return Object.keys(out).length ? out : undefined;
}
