/** Environment for one test: set, then restored whatever the outcome. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

type After = Pick<TestContext, "after">;

/** Set (or, for undefined, delete) environment variables until the test ends. */
export function withEnv(t: After, vars: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  t.after(() => apply(saved));
}

/** A fresh, empty AOTPACK_CACHE_DIR for one test (removed after it). */
export async function tempCache(t: After, prefix = "aotpack-cache-"): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  withEnv(t, { AOTPACK_CACHE_DIR: root });
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}
