import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { UsageError } from "../errors.ts";
import { main } from "../cli/main.ts";
import { parseSpec, specSyntax, TRANSPORTS, transportsJson } from "./index.ts";

function capture(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  }) as Writable & { text: () => string };
  w.text = () => chunks.join("");
  return w;
}

test("every scheme has one entry, and each parses its own syntax with a path, a tag and a colon in the path", () => {
  assert.deepEqual(TRANSPORTS.map((t) => t.scheme), ["oci", "oci-archive", "docker-archive", "registry"]);
  for (const t of TRANSPORTS) {
    const raw = t.scheme === "registry" ? "registry:127.0.0.1:5000/app:v1" : `${t.scheme}:out/a:b/app:v1`;
    const spec = parseSpec(raw);
    assert.equal(spec.kind, t.scheme);
    assert.equal(spec.raw, raw);
    if (t.scheme === "registry") assert.equal(spec.target, "127.0.0.1:5000/app:v1");
    // skopeo's docker-archive:FILE:name:tag: the first colon ends the file.
    else if (t.scheme === "docker-archive") assert.deepEqual([spec.target, spec.name, spec.tag], ["out/a", "b/app", "v1"], raw);
    else assert.deepEqual([spec.target, spec.tag], ["out/a:b/app", "v1"], raw);
  }
  assert.throws(() => parseSpec("tarball:x"), (e: unknown) => e instanceof UsageError && e.message.includes(specSyntax("sink").join(", ")));
  assert.throws(() => parseSpec("oci:out:bad tag"), /invalid tag "bad tag"/);
});

test("the help lines and 'help --json' are derived from the transport registry", async () => {
  const out = capture();
  const err = capture();
  assert.equal(await main(["--help"], { stdout: out, stderr: err }), 0);
  for (const t of TRANSPORTS) assert.ok(out.text().includes(`${t.scheme}:${t.syntax}`), `--help names ${t.scheme}`);
  const build = capture();
  assert.equal(await main(["build", "--help"], { stdout: build, stderr: err }), 0);
  assert.ok(build.text().includes(specSyntax("sink").join(" | ")));

  const json = capture();
  assert.equal(await main(["help", "--json"], { stdout: json, stderr: err }), 0);
  const parsed = JSON.parse(json.text()) as { commands: string[]; transports: ReturnType<typeof transportsJson> };
  assert.ok(parsed.commands.includes("build"));
  assert.deepEqual(parsed.transports, transportsJson());
  assert.deepEqual(
    parsed.transports.map((t) => [t.scheme, t.source, t.sink]),
    TRANSPORTS.map((t) => [t.scheme, t.open !== undefined, true]),
  );
});

/** A UsageError of one line matching `pattern`. */
function refused(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof UsageError && !e.message.includes("\n") && pattern.test(e.message);
}

test("issue 33: the part after the last ':' is always the tag; one holding '/' or '..' is refused, never folded into the path", () => {
  for (const raw of ["oci:out/app:../../evil", "oci-archive:out/a.tar:../../evil.tar", "docker-archive:out/a.tar:../../evil.tar", "docker-archive:out/a.tar:app:../../evil"]) {
    assert.throws(() => parseSpec(raw), refused(/invalid tag "\.\.\/\.\.\/evil(\.tar)?" in output .*: the part after the last ":" is the tag/), raw);
  }
  // CI input as the tag: a branch with a slash is not a folder.
  assert.throws(() => parseSpec("oci:out/app:feature/x"), refused(/invalid tag "feature\/x" in output "oci:out\/app:feature\/x"/));
  assert.throws(() => parseSpec("oci-archive:out/app.tar:feature/x"), refused(/invalid tag "feature\/x"/));
  assert.throws(() => parseSpec("oci:out/app:"), refused(/invalid tag "" in output/));
  assert.throws(() => parseSpec("oci::v1"), refused(/missing path/));
  // A folder whose name holds ':' is named with its tag after it.
  assert.deepEqual([parseSpec("oci:out/a:b/app:v1").target, parseSpec("oci:out/a:b/app:v1").tag], ["out/a:b/app", "v1"]);
  assert.deepEqual([parseSpec("oci:out/a:b:v1").target, parseSpec("oci:out/a:b:v1").tag], ["out/a:b", "v1"]);
  // A docker-archive file whose name holds ':' is named with name and tag after it.
  const d = parseSpec("docker-archive:out/a:b.tar:app:v1");
  assert.deepEqual([d.target, d.name, d.tag], ["out/a:b.tar", "app", "v1"]);
  assert.throws(() => parseSpec("docker-archive:x.tar:a/../b:v1"), refused(/invalid image name "a\/\.\.\/b"/));
});
