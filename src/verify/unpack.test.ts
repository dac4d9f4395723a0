import { test, describe, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { unpackImage } from "./unpack.ts";
import { resolveInRoot, cleanImagePath } from "./rootfs-path.ts";
import { AMD64, imageOf, tarLayer, type TarEntrySpec } from "./testing/images.ts";

let work: string;
let root: string;
let sentinel: string;

async function sentinelState(): Promise<string> {
  const names = (await readdir(sentinel)).sort();
  const contents = await Promise.all(names.map((n) => readFile(join(sentinel, n), "utf8")));
  return JSON.stringify({ names, contents });
}

async function unpack(...layers: TarEntrySpec[][]): Promise<string[]> {
  const warnings: string[] = [];
  const image = imageOf(AMD64, await Promise.all(layers.map((l) => tarLayer(l))));
  await unpackImage(image, root, { onWarning: (m) => warnings.push(m) });
  return warnings;
}

const file = (name: string, content = name, mode = 0o644): TarEntrySpec => ({ header: { name, type: "file", mode }, content });
const dir = (name: string, mode = 0o755): TarEntrySpec => ({ header: { name, type: "directory", mode } });

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "aotpack-unpack-test-"));
  root = join(work, "rootfs");
  sentinel = join(work, "sentinel");
  await mkdir(sentinel);
  await writeFile(join(sentinel, "secret"), "untouched");
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("unpackImage: layers, whiteouts, modes", () => {
  test("applies layers in order with whiteouts and opaque directories", async () => {
    await unpack(
      [dir("a/"), file("a/x"), file("a/y"), dir("b/"), file("b/old"), dir("b/sub/"), file("b/sub/deep"), file("c", "first")],
      [
        { header: { name: "a/.wh.x", type: "file" } },
        file("b/early", "same layer, before the marker"),
        { header: { name: "b/.wh..wh..opq", type: "file" } },
        file("b/new"),
        file("c", "second"),
      ],
    );
    assert.deepEqual((await readdir(join(root, "a"))).sort(), ["y"]);
    assert.deepEqual((await readdir(join(root, "b"))).sort(), ["early", "new"]);
    assert.equal(await readFile(join(root, "c"), "utf8"), "second");
  });

  test("keeps permission bits and the sticky bit, drops setuid and setgid", async () => {
    await unpack([file("suid", "x", 0o4755), file("sgid", "x", 0o2750), file("private", "x", 0o600), dir("tmp/", 0o1777)]);
    assert.equal((await stat(join(root, "suid"))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(root, "sgid"))).mode & 0o7777, 0o750);
    assert.equal((await stat(join(root, "private"))).mode & 0o7777, 0o600);
    assert.equal((await stat(join(root, "tmp"))).mode & 0o7777, 0o1777);
  });

  test("a later layer replaces a directory by a file and a file by a symlink", async () => {
    await unpack([dir("d/"), file("d/inner"), file("f")], [file("d", "now a file"), { header: { name: "f", type: "symlink", linkname: "/d" } }]);
    assert.equal(await readFile(join(root, "d"), "utf8"), "now a file");
    assert.equal(await readlink(join(root, "f")), "/d");
  });

  test("hardlinks inside the image are created", async () => {
    await unpack([file("orig", "shared"), { header: { name: "copy", type: "link", linkname: "orig" } }]);
    assert.equal((await stat(join(root, "copy"))).ino, (await stat(join(root, "orig"))).ino);
  });
});

describe("unpackImage: nothing is written outside the root", () => {
  test("refuses ../ paths", async () => {
    const before = await sentinelState();
    for (const name of ["../sentinel/pwned", "a/../../sentinel/pwned", "../../../../../../tmp/aotpack-pwned"]) {
      await assert.rejects(unpack([file(name)]), (err: unknown) => err instanceof AotpackError && /escapes the image root/.test(err.message));
    }
    assert.equal(await sentinelState(), before);
    await assert.rejects(lstat(join(work, "pwned")));
  });

  test("an absolute symlink is kept, but writes through it land inside the root", async () => {
    const before = await sentinelState();
    await unpack(
      [{ header: { name: "escape", type: "symlink", linkname: sentinel } }, { header: { name: "up", type: "symlink", linkname: "../../../../../../.." } }],
      [file("escape/pwned", "through abs"), file("escape/secret", "overwritten?"), file("up" + sentinel + "/pwned2", "through rel"), dir("escape/newdir/")],
    );
    assert.equal(await sentinelState(), before);
    assert.equal(await readlink(join(root, "escape")), sentinel);
    // The writes went to the same path under the root, as in a chroot.
    assert.equal(await readFile(join(root, sentinel, "pwned"), "utf8"), "through abs");
    assert.equal(await readFile(join(root, sentinel, "secret"), "utf8"), "overwritten?");
    assert.equal(await readFile(join(root, sentinel, "pwned2"), "utf8"), "through rel");
    assert.ok((await stat(join(root, sentinel, "newdir"))).isDirectory());
  });

  test("a file entry replaces a symlink instead of writing through it", async () => {
    const before = await sentinelState();
    await unpack([{ header: { name: "target", type: "symlink", linkname: join(sentinel, "secret") } }], [file("target", "replaced")]);
    assert.equal(await sentinelState(), before);
    assert.ok((await lstat(join(root, "target"))).isFile());
  });

  test("refuses hardlinks to files outside the root or not in the image", async () => {
    const before = await sentinelState();
    await assert.rejects(unpack([{ header: { name: "h1", type: "link", linkname: "../sentinel/secret" } }]), /points outside the image root/);
    await assert.rejects(unpack([{ header: { name: "h2", type: "link", linkname: join(sentinel, "secret") } }]), /not in the image/);
    await assert.rejects(
      unpack([{ header: { name: "s", type: "symlink", linkname: sentinel } }, { header: { name: "h3", type: "link", linkname: "s/secret" } }]),
      /not in the image/,
    );
    assert.equal(await sentinelState(), before);
    assert.equal((await stat(join(sentinel, "secret"))).nlink, 1);
  });

  test("a whiteout through a symlink removes nothing outside", async () => {
    const before = await sentinelState();
    await unpack([{ header: { name: "d", type: "symlink", linkname: sentinel } }], [{ header: { name: "d/.wh.secret", type: "file" } }, { header: { name: "d/.wh..wh..opq", type: "file" } }]);
    assert.equal(await sentinelState(), before);
  });

  test("creates no device nodes or FIFOs, and says so", async () => {
    const warnings = await unpack([
      dir("dev/"),
      { header: { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0, mode: 0o660 } },
      { header: { name: "dev/mem", type: "character-device", devmajor: 1, devminor: 1, mode: 0o666 } },
      { header: { name: "pipe", type: "fifo", mode: 0o644 } },
      file("after", "still unpacked"),
    ]);
    assert.deepEqual(await readdir(join(root, "dev")), []);
    await assert.rejects(lstat(join(root, "pipe")));
    assert.equal(await readFile(join(root, "after"), "utf8"), "still unpacked");
    assert.equal(warnings.length, 3);
    assert.match(warnings[0] ?? "", /skipped block-device \/dev\/sda/);
  });
});

describe("resolveInRoot", () => {
  test("clamps .. and absolute symlink targets at the root", async () => {
    await unpack([dir("etc/"), { header: { name: "etc/loop", type: "symlink", linkname: "../../../etc" } }, { header: { name: "abs", type: "symlink", linkname: "/etc" } }]);
    assert.equal(await resolveInRoot(root, "/etc/loop/passwd", { followFinal: true }), join(root, "etc", "passwd"));
    assert.equal(await resolveInRoot(root, "/abs/x", { followFinal: true }), join(root, "etc", "x"));
    assert.equal(await resolveInRoot(root, "/abs", { followFinal: false }), join(root, "abs"));
  });

  test("a symlink loop is an error, not a hang", async () => {
    await unpack([{ header: { name: "a", type: "symlink", linkname: "b" } }, { header: { name: "b", type: "symlink", linkname: "a" } }]);
    await assert.rejects(resolveInRoot(root, "/a/x", { followFinal: true }), /too many levels of symbolic links/);
  });

  test("cleanImagePath refuses names that climb out", () => {
    assert.equal(cleanImagePath("./a/b/"), "/a/b");
    assert.equal(cleanImagePath("/abs/./x"), "/abs/x");
    assert.equal(cleanImagePath("a/../b"), "/b");
    assert.equal(cleanImagePath("a/../../b"), undefined);
    assert.equal(cleanImagePath(".."), undefined);
    assert.equal(cleanImagePath("./"), "/");
  });
});

describe("unpackImage: limits on untrusted input", () => {
  test("more entries than the limit are refused", async () => {
    const image = imageOf(AMD64, [await tarLayer([file("a"), file("b"), file("c")])]);
    await assert.rejects(unpackImage(image, root, { limits: { maxEntries: 2 } }), /more than 2 entries/);
  });

  test("a path longer than the limit is refused, and so is a long link target", async () => {
    const long = `${"d/".repeat(60)}x`;
    await assert.rejects(unpackImage(imageOf(AMD64, [await tarLayer([file(long)])]), root, { limits: { maxPathLength: 100 } }), /path is longer than 100 bytes/);
    const link: TarEntrySpec = { header: { name: "l", type: "symlink", linkname: "/".repeat(5000) } };
    await assert.rejects(unpackImage(imageOf(AMD64, [await tarLayer([link])]), root), /path is longer than 4096 bytes/);
  });

  test("bytes beyond the unpacked size limit are refused before the file is written", async () => {
    const image = imageOf(AMD64, [await tarLayer([file("small", "x".repeat(100)), file("big", "y".repeat(5000))])]);
    await assert.rejects(unpackImage(image, root, { limits: { maxUnpackedBytes: 4096 } }), /unpacked size limit \(4 KiB\)/);
    await assert.rejects(lstat(join(root, "big")), /ENOENT/);
  });
});
