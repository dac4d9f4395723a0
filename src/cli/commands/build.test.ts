import { test } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../../errors.ts";
import { buildCommand } from "./build.ts";

test("--omit takes npm's shapes (repeated or a comma list) and names the known libraries when wrong", () => {
  assert.deepEqual(buildCommand(["--omit", "openssl,ca-certificates"]).build.omit, ["openssl", "ca-certificates"]);
  assert.deepEqual(buildCommand(["--omit", "openssl", "--omit", "tzdata"]).build.omit, ["openssl", "tzdata"]);
  assert.equal(buildCommand([]).build.omit, undefined);
  assert.throws(() => buildCommand(["--omit", "ssl"]), (err: unknown) => err instanceof UsageError && /openssl, icu, tzdata, ca-certificates/.test(`${err.message} ${err.hint ?? ""}`));
});
