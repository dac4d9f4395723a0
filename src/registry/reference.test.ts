import { test } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { apiHost, isLoopbackRegistry, parseReference } from "./reference.ts";

const D = `sha256:${"a".repeat(64)}`;

test("defaults: docker.io, library/, latest", () => {
  const r = parseReference("alpine");
  assert.equal(r.registry, "docker.io");
  assert.equal(r.repository, "library/alpine");
  assert.equal(r.tag, "latest");
  assert.equal(r.digest, undefined);
  assert.equal(r.toString(), "docker.io/library/alpine:latest");
  assert.equal(apiHost(r.registry), "registry-1.docker.io");
  assert.equal(parseReference("user/app").repository, "user/app");
  assert.equal(parseReference("index.docker.io/user/app:1").toString(), "docker.io/user/app:1");
});

test("registries with ports, tags and digests", () => {
  const r = parseReference(`127.0.0.1:5000/team/app:v1.2@${D}`);
  assert.equal(r.registry, "127.0.0.1:5000");
  assert.equal(r.repository, "team/app");
  assert.equal(r.tag, "v1.2");
  assert.equal(r.digest, D);
  assert.equal(r.toString(), `127.0.0.1:5000/team/app:v1.2@${D}`);
  const byDigest = parseReference(`ghcr.io/o/r@${D}`);
  assert.equal(byDigest.tag, undefined, "a digest alone does not imply :latest");
  assert.equal(parseReference("localhost/app").registry, "localhost");
  assert.equal(parseReference("localhost:5000/app").registry, "localhost:5000");
  assert.equal(parseReference("[::1]:5000/app:x").registry, "[::1]:5000");
  assert.equal(parseReference("[::1]:5000/app:x").repository, "app");
  assert.equal(parseReference("a.b-c.example/x__y/z-z.q:T_1").repository, "x__y/z-z.q");
});

test("bad references are UsageErrors that say why", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /empty/],
    ["Foo/Bar", /lowercase/],
    ["docker.io/App", /lowercase/],
    ["app:", /tag/],
    ["app:-bad", /tag/],
    [`app@sha256:${"A".repeat(64)}`, /digest/],
    ["app@sha256:abc", /digest/],
    ["https://ghcr.io/o/r", /scheme/],
    ["ghcr.io//r", /empty repository/],
    ["ghcr.io/r/", /empty repository/],
    ["a b", /whitespace/],
    ["ghcr.io/-r", /invalid characters/],
    [`ghcr.io/${"a".repeat(256)}`, /longer than 255/],
  ];
  for (const [input, why] of cases) {
    assert.throws(() => parseReference(input), (err: unknown) => err instanceof UsageError && why.test(err.message) && err.message.includes("invalid image reference"), input);
  }
});

test("loopback registries are plain HTTP; others are not", () => {
  for (const r of ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"]) assert.equal(isLoopbackRegistry(r), true, r);
  for (const r of ["docker.io", "ghcr.io", "10.0.0.1:5000", "localhost.example.com", "127.0.0.1.nip.io"]) assert.equal(isLoopbackRegistry(r), false, r);
});
