/**
 * Issue 27 §5: `aotpack … | consumer` must get the whole output, whatever the pipe's speed. A pipe
 * holds 64 KiB; what does not fit when the command returns must still be written before the process
 * exits. The consumer here reads 1 KiB every few ms from a real shell pipe, as `| jq` or `| python` would.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyImage, withConfig } from "../oci/mutate.ts";
import { writeLayout } from "../publish/index.ts";
import { REPO_ROOT } from "../../test/support/index.ts";

// Reads fd 0 in 1 KiB reads with a 3 ms sleep after each, then parses what it got as JSON.
const SLOW_CONSUMER = `
const fs = require("node:fs");
const buf = Buffer.alloc(1024);
const parts = [];
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
for (;;) {
  let n;
  try { n = fs.readSync(0, buf, 0, buf.length, null); } catch (e) { if (e.code === "EAGAIN") { sleep(3); continue; } throw e; }
  if (n === 0) break;
  parts.push(Buffer.from(buf.subarray(0, n)));
  sleep(3);
}
const text = Buffer.concat(parts).toString("utf8");
let parsed = "yes";
try { JSON.parse(text); } catch { parsed = "no"; }
process.stdout.write(JSON.stringify({ bytes: Buffer.byteLength(text), parsed }));
`;

/** `aotpack ARGS | slow consumer` through bash; aotpack's exit code and what the consumer read. */
function throughSlowPipe(args: string[]): Promise<{ code: number; consumer: { bytes: number; parsed: string }; stderr: string }> {
  const script = `"$0" --import tsx "$1" "\${@:3}" | "$0" -e "$2"; echo "aotpack-exit=\${PIPESTATUS[0]}" >&2`;
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script, process.execPath, join(REPO_ROOT, "src/cli/bin.ts"), SLOW_CONSUMER, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", () => {
      const code = Number(/aotpack-exit=(\d+)/.exec(err)?.[1] ?? -1);
      try {
        resolve({ code, consumer: JSON.parse(out) as { bytes: number; parsed: string }, stderr: err });
      } catch (e) {
        reject(new Error(`consumer printed ${JSON.stringify(out)}; stderr ${err}: ${(e as Error).message}`));
      }
    });
  });
}

test("inspect --json of a 300 KiB config reaches a slow pipe whole, exit 0", { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-slow-pipe-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // 3000 labels of ~100 bytes: the JSON is several pipe buffers long.
  const labels = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`org.example.label-${i}`, "x".repeat(80)]));
  const image = withConfig(emptyImage({ os: "linux", architecture: "amd64" }), (cfg) => ({ ...cfg, config: { ...cfg.config, Labels: labels } }));
  await writeLayout(join(dir, "oci"), image, { tag: "big" });
  const r = await throughSlowPipe(["inspect", `oci:${join(dir, "oci")}:big`, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.consumer.parsed, "yes", `the consumer got ${r.consumer.bytes} bytes that do not parse as JSON`);
  assert.ok(r.consumer.bytes > 300_000, `${r.consumer.bytes} bytes`);
});
