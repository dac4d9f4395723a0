/** Issue 16: an npm registry URL with a password is never printed (message, hint, --json). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { ensureNpmRuntime } from "./npm-runtime.ts";

test("npm_config_registry=http://user:pw@… never reaches the error", async (t) => {
  const scratch = await mkdtemp(join(tmpdir(), "aotpack-npm-secret-"));
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AOTPACK_CACHE_DIR: join(scratch, "cache"),
    npm_config_registry: "http://alice:hunter2-pw@127.0.0.1:1/?token=tok-SECRET",
    npm_config_cache: join(scratch, "npm-cache"),
    npm_config_fetch_retries: "0",
  };
  const err = await ensureNpmRuntime({ pkg: "left-pad", version: "1.3.0", fileInPackage: "index.js", name: "left-pad" }, { env, cwd: scratch }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof AotpackError, String(err));
  const shown = `${err.message}\n${err.hint ?? ""}`;
  assert.doesNotMatch(shown, /hunter2|tok-SECRET|alice/);
  assert.match(err.message, /127\.0\.0\.1:1/);
});
