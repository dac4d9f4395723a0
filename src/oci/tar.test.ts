import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { requireTool, runOk, tempDir } from "../../test/support/tools.ts";
import { AotpackError } from "../errors.ts";
import { encodeHeader, indexTarFile, tarChunks, type TarEntry } from "./tar.ts";

async function collect(entries: TarEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarChunks(entries)) chunks.push(c);
  return Buffer.concat(chunks);
}

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 };

test("ustar for short names; PAX for long paths, long link targets, non-ASCII and big ids — GNU tar agrees", async (t) => {
  const tar = requireTool(t, "tar");
  if (!tar) return;
  const name100 = "n".repeat(100);
  const longLink = `/${"l".repeat(150)}`;
  const entries: TarEntry[] = [
    { header: { ...base, name: name100, type: "file", size: 1 }, body: Buffer.from("a") },
    { header: { ...base, name: "link", type: "symlink", linkname: longLink, mode: 0o777 } },
    { header: { ...base, name: "café.txt", type: "file", size: 2 }, body: Buffer.from("hi") },
    { header: { ...base, name: "big-ids", type: "file", uid: 3_000_000, gid: 70_000, size: 0 }, body: Buffer.alloc(0) },
  ];
  assert.equal(encodeHeader(entries[0]!.header).length, 512, "100-byte name fits ustar");
  assert.ok(encodeHeader(entries[1]!.header).length > 512, "long link target needs PAX");
  const bytes = await collect(entries);
  assert.equal(bytes.length % 512, 0);
  const listing = await runOk(tar, ["-tv", "--numeric-owner", "-f", "-"], { input: bytes });
  const lines = listing.stdout.trim().split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, new RegExp(`0/0 +1 1970-01-01 00:00 ${name100}$`));
  assert.ok(lines[1]!.endsWith(`link -> ${longLink}`));
  assert.match(lines[2]!, /café\.txt$/);
  assert.match(lines[3]!, /3000000\/70000/);
});

test("a body shorter or longer than its header fails the stream", async () => {
  await assert.rejects(collect([{ header: { ...base, name: "f", type: "file", size: 5 }, body: Buffer.from("abc") }]), AotpackError);
  await assert.rejects(
    collect([{ header: { ...base, name: "f", type: "file", size: 2 }, body: () => Readable.from([Buffer.from("abc")]) }]),
    /expected 2 bytes but read 3 \(did the file change while it was being layered\?\)/,
  );
});

for (const format of ["gnu", "posix", "ustar"] as const) {
  test(`indexTarFile reads a GNU tar --format=${format} archive: names, offsets, sizes`, async (t) => {
    const tar = requireTool(t, "tar");
    if (!tar) return;
    const dir = await tempDir(t);
    const src = join(dir, "src");
    const deep = format === "ustar" ? "short" : `${"d".repeat(120)}/${"e".repeat(60)}`;
    await mkdir(join(src, "blobs", "sha256", deep), { recursive: true });
    await writeFile(join(src, "oci-layout"), "{}");
    await writeFile(join(src, "blobs", "sha256", deep, "data"), "x".repeat(1500));
    const archive = join(dir, "a.tar");
    await runOk(tar, [`--format=${format}`, "-cf", archive, "-C", src, "."]);
    const index = await indexTarFile(archive);
    const entry = index.get(`blobs/sha256/${deep}/data`);
    assert.ok(entry, [...index.keys()].join(", "));
    assert.equal(entry.size, 1500);
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(archive, { start: entry.offset, end: entry.offset + entry.size - 1 })) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "x".repeat(1500));
    assert.equal(index.get("oci-layout")?.size, 2);
    assert.equal(index.get("blobs")?.type, "directory");
  });
}

test("indexTarFile refuses a file that is not a tar", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "junk"), Buffer.alloc(1024, 0x41));
  await assert.rejects(indexTarFile(join(dir, "junk")), (e: unknown) => e instanceof AotpackError && /not a tar archive/.test(e.message));
});
