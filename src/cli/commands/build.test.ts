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

test("issue 33: -t 'a/../b:latest' is refused alike whatever the outputs, by the outputs' own name:tag rule", () => {
  for (const output of [[], ["-o", "oci:out/app"], ["-o", "oci-archive:out/app.tar"], ["-o", "docker-archive:out/app.tar"], ["-o", "registry:127.0.0.1:5000/app"]]) {
    assert.throws(() => buildCommand(["-t", "a/../b:latest", ...output]), (err: unknown) => err instanceof UsageError && /^invalid --tag "a\/\.\.\/b:latest": invalid image name "a\/\.\.\/b"/.test(err.message), output.join(" "));
    assert.throws(() => buildCommand(["-t", "app:feature/x", ...output]), (err: unknown) => err instanceof UsageError && /invalid --tag "app:feature\/x": invalid tag "feature\/x"/.test(err.message), output.join(" "));
  }
  assert.deepEqual([buildCommand(["-t", "team/app:v1"]).tag, buildCommand(["-t", "app"]).tag], ["team/app:v1", "app"]);
});
