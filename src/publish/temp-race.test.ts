/**
 * A write that fails leaves no temp file, even when the source fails before the file is open:
 * createWriteStream opens asynchronously, so a temp removed on failure could be created after its
 * removal (seen under load as a leftover `.<hex>.tmp-*` in a layout after a failed publish).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { storeBlob } from "./layout.ts";
import { writeTarAtomic } from "./tar-file.ts";

const failingAtOnce = (): Readable =>
  new Readable({
    read() {
      this.destroy(new Error("simulated read failure"));
    },
  });

test("storeBlob: a source that fails at once leaves no temp file behind (500 tries)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-temp-race-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (let i = 0; i < 500; i++) {
    const blob = { digest: `sha256:${i.toString(16).padStart(64, "0")}` as const, size: 10, mediaType: "application/octet-stream", kind: "layer" as const, open: async () => failingAtOnce() };
    await assert.rejects(storeBlob(dir, blob, undefined), /simulated read failure/);
  }
  assert.deepEqual(await readdir(dir), []);
});

test("writeTarAtomic: a failing entry leaves neither the target nor a temp file", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-temp-race-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (let i = 0; i < 500; i++) {
    const failing = { header: { name: "x", type: "file" as const, size: 10, mode: 0o644, uid: 0, gid: 0, mtime: 0 }, body: failingAtOnce };
    await assert.rejects(writeTarAtomic(join(dir, "out.tar"), [failing]), /simulated read failure/);
  }
  assert.deepEqual(await readdir(dir), []);
});
