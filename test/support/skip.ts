/**
 * The one rule for a missing real component (a tool, root, a kernel feature, a network mirror):
 * skip the test with the reason locally, FAIL it when CI=true, where a missing component is a
 * broken setup, not an excuse.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";

export const inCI = (): boolean => process.env.CI === "true";

/** Inside a test: fail in CI, else skip with `reason` (the caller then returns). */
export function unavailable(t: Pick<TestContext, "skip">, reason: string): void {
  if (inCI()) assert.fail(`${reason} (required in CI)`);
  t.skip(reason);
}

/** True when the real component is there (`ok`); else the test is skipped (failed in CI) naming `what`. */
export function requireReal(t: Pick<TestContext, "skip">, ok: boolean, what: string): boolean {
  if (ok) return true;
  unavailable(t, `${what} is missing`);
  return false;
}

/** For `test(name, { skip: skipOrFail(reason) }, …)`: false when reason is undefined, else the reason; throws in CI. */
export function skipOrFail(reason: string | undefined): string | false {
  if (reason === undefined) return false;
  if (inCI()) throw new Error(`required component missing in CI: ${reason}`);
  return reason;
}
