/**
 * `aotpack lint --fix`: apply the lint rules' edits, one rule at a time, re-linting in between, because
 * one fix can make another rule fire (FROM --platform=$BUILDPLATFORM → dotnet needs -a $TARGETARCH →
 * the stage needs ARG TARGETARCH → arm64 needs the cross toolchain …). Edits only insert or replace
 * text inside the instructions they fix, so every other instruction and comment stays byte-for-byte.
 */
import { AotpackError } from "../errors.ts";
import { analyzeDockerfile, type LintOptions, type RuleId, type TextEdit } from "./lint.ts";

export interface FixResult {
  text: string;
  /** One line per applied fix: `AOT003 line 27: dotnet build … -a $TARGETARCH`. */
  applied: string[];
}

/** Every round fixes at least one finding, so this only guards against a rule that keeps re-firing. */
const MAX_ROUNDS = 50;

export function fixDockerfile(text: string, options: Omit<LintOptions, "file"> & { file?: string } = {}): FixResult {
  const lintOptions: LintOptions = { ...options, file: options.file ?? "Dockerfile" };
  const applied: string[] = [];
  const stuck = new Set<RuleId>();
  let current = text;
  let fixable = analyzeDockerfile(current, lintOptions).filter((f) => f.edits.length > 0);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const candidates = fixable.filter((f) => !stuck.has(f.rule));
    const first = candidates[0];
    if (!first) return { text: current, applied };
    // Lowest rule id first: later rules judge the file after earlier fixes (see the header).
    const rule = candidates.reduce((lowest, f) => (f.rule < lowest ? f.rule : lowest), first.rule);
    const batch = candidates.filter((f) => f.rule === rule);
    const next = applyEdits(current, batch.flatMap((f) => f.edits));
    const after = analyzeDockerfile(next, lintOptions).filter((f) => f.edits.length > 0);
    if (after.filter((f) => f.rule === rule).length >= batch.length) {
      stuck.add(rule); // the edit did not help: leave that rule's findings for the user
      continue;
    }
    current = next;
    fixable = after;
    for (const f of batch) applied.push(`${f.rule} line ${f.line}: ${f.fix}`);
  }
  throw new AotpackError(`lint --fix did not settle after ${MAX_ROUNDS} rounds`, { hint: "please report this Dockerfile as an aotpack bug" });
}

/** Apply non-overlapping edits; later offsets first so earlier offsets stay valid. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.offset - a.offset || b.deleteCount - a.deleteCount);
  let out = text;
  let limit = Infinity;
  for (const e of sorted) {
    if (e.offset + e.deleteCount > limit) continue; // overlapping edit: the next round re-lints and retries
    out = out.slice(0, e.offset) + e.insert + out.slice(e.offset + e.deleteCount);
    limit = e.offset;
  }
  return out;
}
