/** The composition root's command list: every command has its help, and the top-level help names each one. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { HELP, main } from "../main.ts";
import { COMMANDS } from "./index.ts";

async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
  const out = new PassThrough();
  let stdout = "";
  out.on("data", (d: Buffer) => (stdout += d.toString()));
  const code = await main(argv, { stdout: out, stderr: new PassThrough() });
  return { code, stdout };
}

test("every command answers --help with its usage, and `aotpack --help` names every command", async () => {
  assert.equal(new Set(COMMANDS.map((c) => c.name)).size, COMMANDS.length, "names are unique");
  for (const c of COMMANDS) {
    const r = await run([c.name, "--help"]);
    assert.equal(r.code, 0, c.name);
    assert.equal(r.stdout, `${c.help()}\n`);
    assert.match(r.stdout, new RegExp(`^Usage: aotpack ${c.name}\\b`), c.name);
    assert.match(HELP, new RegExp(`^  ${c.name}\\b.* {2}\\S`, "m"), `aotpack --help names ${c.name}`);
  }
});
