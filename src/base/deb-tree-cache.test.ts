/** Issue 16: an extracted deb tree changed in the cache is never used; it is extracted again. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sha256File } from "../oci/fs-util.ts";
import { DebianArchive } from "./archive.ts";
import type { PackageRecord } from "./packages-index.ts";

const run = promisify(execFile);

test("a patched file in an extracted deb tree is detected and the tree re-extracted from the verified .deb", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "aotpack-debtree-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const pkg = join(root, "pkg");
  await mkdir(join(pkg, "DEBIAN"), { recursive: true });
  await mkdir(join(pkg, "usr/lib/x86_64-linux-gnu"), { recursive: true });
  await writeFile(join(pkg, "DEBIAN/control"), "Package: libfake6\nVersion: 1.0\nArchitecture: amd64\nMaintainer: x <x@y>\nDescription: fake\n");
  const original = Buffer.alloc(4096, 0x41);
  await writeFile(join(pkg, "usr/lib/x86_64-linux-gnu/libc.so.6"), original);
  const debFile = join(root, "libfake6.deb");
  await run("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", pkg, debFile]);
  const sha = await sha256File(debFile);
  const cacheRoot = join(root, "cache");
  await mkdir(join(cacheRoot, "debs"), { recursive: true });
  await copyFile(debFile, join(cacheRoot, "debs", `${sha}.deb`));
  const record = { name: "libfake6", version: "1.0", architecture: "amd64", sha256: sha, size: (await stat(debFile)).size, filename: "pool/libfake6.deb" } as PackageRecord;

  const messages: string[] = [];
  const archive = () => new DebianArchive({ mirror: "http://127.0.0.1:9", suite: "bookworm", cacheRoot, onProgress: (m) => messages.push(m) });
  const first = await archive().tree(record);
  const lib = join(first.root, "usr/lib/x86_64-linux-gnu/libc.so.6");
  assert.deepEqual(await readFile(lib), original);

  // Same size, other bytes: a patched libc.
  const patched = Buffer.from(original);
  patched[100] = 0x90;
  await writeFile(lib, patched);
  const second = await archive().tree(record);
  assert.deepEqual(await readFile(join(second.root, "usr/lib/x86_64-linux-gnu/libc.so.6")), original, "the tree was re-extracted");
  assert.ok(messages.some((m) => /corrupt|changed/.test(m)), `a warning says so: ${messages.join(" | ")}`);
});
