import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { ProgressView, formatBytes } from "./progress.ts";

function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  let text = "";
  const w = new Writable({
    write(chunk: Buffer, _e, cb) {
      text += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY: boolean; text: () => string };
  w.isTTY = isTTY;
  w.text = () => text;
  return w;
}

test("without a TTY, progress is plain lines: one per finished step, byte totals per blob", () => {
  const out = sink(false);
  const v = new ProgressView(out);
  v.step("linux/amd64", "compile", "start");
  v.step("linux/amd64", "compile", "done", "1.2s");
  v.step("linux/arm64", "compile", "cached");
  v.publish("registry:x", { kind: "blob", digest: `sha256:${"a".repeat(64)}`, done: 10, total: 2048 });
  v.publish("registry:x", { kind: "blob", digest: `sha256:${"a".repeat(64)}`, done: 2048, total: 2048 });
  v.publish("registry:x", { kind: "blob", digest: `sha256:${"b".repeat(64)}`, done: 0, total: 5, skipped: true });
  v.warn("careful");
  v.finish();
  assert.equal(
    out.text(),
    [
      "linux/amd64: compile done (1.2s)",
      "linux/arm64: compile cached",
      `registry:x: blob sha256:aaaaaaaaaaaa 2.00 KiB`,
      `registry:x: blob sha256:bbbbbbbbbbbb 5 B (already there)`,
      "warning: careful",
      "",
    ].join("\n"),
  );
  assert.ok(!out.text().includes("\x1b["), "no escape codes without a TTY");
});

test("on a TTY, the task list is redrawn in place", () => {
  const out = sink(true);
  const saved = process.env.CI;
  delete process.env.CI;
  try {
    const v = new ProgressView(out);
    v.step("linux/amd64", "compile", "start");
    v.step("linux/amd64", "compile", "done");
    v.finish();
  } finally {
    if (saved !== undefined) process.env.CI = saved;
  }
  assert.match(out.text(), /\x1b\[1A\x1b\[J/);
  assert.match(out.text(), /linux\/amd64 +✓ compile/);
});

test("formatBytes uses binary units", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(52 * 1024 * 1024), "52.0 MiB");
});
