/**
 * Cross-check against a real, independent unpacker: the same OCI layout (written by our
 * layout publisher, read back by readLayout) unpacked by umoci and by unpackImage must give
 * the same tree: types, modes, owners, symlink targets, contents, hardlink groups.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { lstat, mkdtemp, readFile, readdir, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { layoutPublisher } from "../publish/layout.ts";
import { readLayout } from "../oci/layout-source.ts";
import { isImageIndex } from "../oci/interfaces.ts";
import { unpackImage } from "./unpack.ts";
import { AMD64, imageOf, requireTool, tarLayer, type TarEntrySpec } from "./testing/images.ts";

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "aotpack-unpack-umoci-"));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const file = (name: string, content: string, mode = 0o644, uid = 0): TarEntrySpec => ({ header: { name, type: "file", mode, uid, gid: uid }, content });
const dir = (name: string, mode = 0o755): TarEntrySpec => ({ header: { name, type: "directory", mode } });
const symlink = (name: string, linkname: string): TarEntrySpec => ({ header: { name, type: "symlink", linkname, mode: 0o777 } });
const whiteout = (name: string): TarEntrySpec => ({ header: { name, type: "file", mode: 0o644 } });

/** type, mode, owner, content or target, and which paths share an inode: everything but times. */
async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const owner = `${st.uid}:${st.gid}`;
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`d ${path} ${mode} ${owner}`);
        await walk(path);
      } else if (st.isSymbolicLink()) out.push(`l ${path} -> ${await readlink(join(root, path))} ${owner}`);
      else {
        const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (st.nlink > 1 && !first) inodes.set(st.ino, path);
        out.push(`f ${path} ${mode} ${owner} ${JSON.stringify(await readFile(join(root, path), "utf8"))}${first ? ` hardlink-of ${first}` : ""}`);
      }
    }
  };
  await walk("");
  return out;
}

test("unpackImage and umoci unpack the same layers to the same tree", async (t) => {
  const skip = await requireTool("/usr/bin/umoci", "umoci");
  if (skip) return t.skip(skip);
  if (process.getuid?.() !== 0) return t.skip("comparing owners needs root");
  const image = imageOf(AMD64, [
    await tarLayer([
      dir("etc/"),
      file("etc/config", "v1"),
      file("etc/old", "removed later"),
      dir("var/", 0o755),
      dir("var/cache/", 0o750),
      file("var/cache/a", "a"),
      dir("var/cache/sub/"),
      file("var/cache/sub/b", "b"),
      dir("home/"),
      dir("home/app/", 0o700),
      file("home/app/data", "mine", 0o600, 1000),
      file("bin-tool", "#!/bin/sh\n", 0o755),
      symlink("usr-link", "/etc"),
      dir("tmp/", 0o1777),
    ]),
    await tarLayer([
      whiteout("etc/.wh.old"),
      file("etc/config", "v2", 0o640),
      whiteout("var/cache/.wh..wh..opq"),
      file("var/cache/fresh", "fresh"),
      { header: { name: "bin-tool-link", type: "link", linkname: "bin-tool" } },
      symlink("rel-link", "etc/config"),
    ]),
    await tarLayer([whiteout(".wh.usr-link"), dir("usr-link/"), file("usr-link/now-a-dir", "x")]),
  ]);
  const layoutDir = join(work, "layout");
  await layoutPublisher(layoutDir).publish(image, { tag: "t" });

  const umociRoot = join(work, "umoci-rootfs");
  await promisify(execFile)("umoci", ["raw", "unpack", "--image", `${layoutDir}:t`, umociRoot], { timeout: 60_000 });

  const ours = join(work, "ours");
  const readBack = await (await readLayout(layoutDir)).resolve("t");
  assert.ok(!isImageIndex(readBack));
  await unpackImage(readBack, ours);

  const expected = await describeTree(umociRoot);
  assert.ok(expected.some((l) => l.startsWith("f var/cache/fresh")), "the fixture exercises the opaque dir");
  assert.deepEqual(await describeTree(ours), expected);
});
