import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import * as tarStream from "tar-stream";
import { findTool, run, smallTmpfs, tempDir, withEnv } from "../../test/support/index.ts";
import { AotpackError, UsageError } from "../errors.ts";
import { zstdAvailable } from "./compress.ts";
import type { Layer } from "./interfaces.ts";
import { createLayer, createLayerFromDirectory, layerFromBlobFile, SourceChangedError, sourceDateEpoch } from "./layer.ts";
import { MediaType } from "./media-types.ts";
import { buildHelloIndex } from "./testing/fixtures.ts";

const sha = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function headers(layer: Layer): Promise<tarStream.Header[]> {
  const tar = await readAll(await layer.uncompressed());
  const extract = tarStream.extract();
  const out: tarStream.Header[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      out.push(entry.header);
      entry.resume();
    }
  })();
  extract.end(tar);
  await done;
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? dir, e.name));
}

test("sourceDateEpoch: unset or empty is 0, integers pass, anything else is a UsageError", () => {
  assert.equal(sourceDateEpoch({}), 0);
  assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "" }), 0);
  assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "1700000000" }), 1700000000);
  for (const bad of ["abc", "-1", "1.5", "1e9", "12 34"]) {
    assert.throws(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: bad }), (e: unknown) => e instanceof UsageError && /SOURCE_DATE_EPOCH/.test(e.message));
  }
});

test("layer tar: sorted, explicit parents, fixed owners and names, mtime from the epoch, PAX only for long paths", async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, "server");
  await writeFile(src, "binary bytes");
  const longName = `/opt/${"x".repeat(120)}/file`;
  const layer = await createLayer(
    [
      { path: "/app/server", type: "file", source: src, mode: 0o755 },
      { path: "/etc/passwd", type: "file", content: "root:x:0:0::/:/sbin/nologin\n" },
      { path: "/bin/sh", type: "symlink", linkname: "/app/server" },
      { path: "/data", type: "directory", uid: 1000, gid: 1000, mode: 0o700 },
      { path: longName, type: "file", content: "long" },
      { path: "/app-x", type: "file", content: "sorts before app/ bytewise" },
    ],
    { blobDir: join(dir, "blobs"), sourceDateEpoch: 1700000000 },
  );
  const hs = await headers(layer);
  assert.deepEqual(
    hs.map((h) => h.name),
    ["app/", "app/server", "app-x", "bin/", "bin/sh", "data/", "etc/", "etc/passwd", "opt/", `opt/${"x".repeat(120)}/`, longName.slice(1)],
  );
  for (const h of hs) {
    assert.equal(h.mtime?.getTime(), 1700000000 * 1000, `${h.name} mtime`);
    assert.equal(h.uname ?? "", "");
    assert.equal(h.gname ?? "", "");
    if (h.name !== "data/") assert.deepEqual([h.uid, h.gid], [0, 0]);
  }
  const byName = new Map(hs.map((h) => [h.name, h]));
  assert.equal(byName.get("app/server")?.mode, 0o755);
  assert.equal(byName.get("etc/passwd")?.mode, 0o644);
  assert.equal(byName.get("app/")?.mode, 0o755);
  assert.equal(byName.get("bin/sh")?.linkname, "/app/server");
  assert.deepEqual([byName.get("data/")?.uid, byName.get("data/")?.gid, byName.get("data/")?.mode], [1000, 1000, 0o700]);
  // PAX appears exactly once (for the long path) and carries no per-run records.
  const raw = await readAll(await layer.uncompressed());
  const text = raw.toString("latin1");
  assert.equal(text.match(/ path=/g)?.length, 2); // the long file and its long parent directory
  assert.doesNotMatch(text, /atime=|ctime=|mtime=/);
  // GNU tar reads it too, with the same names.
  const gnu = await run("tar", ["-t", "-f", "-"], { input: raw });
  assert.equal(gnu.code, 0, gnu.stderr);
  assert.deepEqual(gnu.stdout.trim().split("\n"), hs.map((h) => h.name));
});

test("digest, diff_id and size agree with the blob; the gzip header is fixed", async (t) => {
  const dir = await tempDir(t);
  const layer = await createLayer([{ path: "/a", type: "file", content: "a".repeat(10000) }], { blobDir: join(dir, "blobs") });
  const digest = await layer.digest();
  const blobPath = join(dir, "blobs", "sha256", digest.slice(7));
  const blob = await readFile(blobPath);
  assert.equal(sha(blob), digest);
  assert.equal(blob.length, await layer.size());
  assert.equal(sha(gunzipSync(blob)), await layer.diffId());
  assert.equal(await layer.mediaType(), MediaType.OciLayerGzip);
  assert.deepEqual([...blob.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  assert.equal(await layer.uncompressedSize?.(), gunzipSync(blob).length);
  // The real gzip tool accepts it.
  assert.equal((await run("gzip", ["-t", blobPath])).code, 0);
});

test("compression none: the blob is the tar, digest equals diff_id", async (t) => {
  const dir = await tempDir(t);
  const layer = await createLayer([{ path: "/a", type: "file", content: "a" }], { blobDir: dir, compression: "none" });
  assert.equal(await layer.digest(), await layer.diffId());
  assert.equal(await layer.mediaType(), MediaType.OciLayer);
});

test("zstd: a real zstd layer on Node >= 22.15, a one-line error naming the Node version before", async (t) => {
  const dir = await tempDir(t);
  const entries = [{ path: "/a", type: "file" as const, content: "zstd ".repeat(1000) }];
  if (!zstdAvailable()) {
    await assert.rejects(
      createLayer(entries, { blobDir: join(dir, "blobs"), compression: "zstd" }),
      (e: unknown) => e instanceof AotpackError && e.exitCode === 1 && e.message.includes(`zstd needs Node >= 22.15 (running ${process.version})`),
    );
    assert.deepEqual(await filesUnder(dir), [], "nothing written");
    return;
  }
  const layer = await createLayer(entries, { blobDir: join(dir, "blobs"), compression: "zstd" });
  assert.equal(await layer.mediaType(), MediaType.OciLayerZstd);
  const zstd = findTool("zstd");
  if (zstd) {
    const blobPath = join(dir, "blobs", "sha256", (await layer.digest()).slice(7));
    const out = execFileSync(zstd, ["-d", "-c", blobPath]);
    assert.equal(sha(out), await layer.diffId());
  }
});

test("reproducible: same inputs and epoch in different dirs with different file times give identical digests", async (t) => {
  const a = await tempDir(t);
  const b = await tempDir(t);
  const content = randomBytes(200_000);
  for (const [dir, when] of [
    [a, new Date("2001-01-01T00:00:00Z")],
    [b, new Date()],
  ] as const) {
    await mkdir(join(dir, "src", "sub"), { recursive: true });
    await writeFile(join(dir, "src", "sub", "bin"), content, { mode: 0o755 });
    await writeFile(join(dir, "src", "readme"), "hi", { mode: 0o600 });
    await symlink("sub/bin", join(dir, "src", "link"));
    await utimes(join(dir, "src", "sub", "bin"), when, when);
    await utimes(join(dir, "src", "readme"), when, when);
  }
  const la = await createLayerFromDirectory(join(a, "src"), { blobDir: join(a, "blobs"), sourceDateEpoch: 1234, prefix: "/srv" });
  const lb = await createLayerFromDirectory(join(b, "src"), { blobDir: join(b, "blobs"), sourceDateEpoch: 1234, prefix: "/srv" });
  assert.equal(await la.digest(), await lb.digest());
  assert.equal(await la.diffId(), await lb.diffId());
  const hs = await headers(la);
  assert.deepEqual(
    hs.map((h) => [h.name, h.mode]),
    [
      ["srv/", 0o755],
      ["srv/link", 0o777],
      ["srv/readme", 0o644],
      ["srv/sub/", 0o755],
      ["srv/sub/bin", 0o755],
    ],
  );

  // The whole two-platform index, via SOURCE_DATE_EPOCH from the environment.
  withEnv(t, { SOURCE_DATE_EPOCH: "1700000000" });
  const ia = await buildHelloIndex(a);
  await new Promise((r) => setTimeout(r, 1100)); // a later wall-clock second for the second build
  const ib = await buildHelloIndex(b);
  assert.equal(await ia.index.digest(), await ib.index.digest());
  assert.match((await ia.amd64.configFile()).created ?? "", /^2023-11-14T22:13:20Z$/);
});

test("onProgress reports the running uncompressed total", async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, "big");
  await writeFile(src, randomBytes(300_000));
  const seen: number[] = [];
  const layer = await createLayer([{ path: "/big", type: "file", source: src }], { blobDir: dir, onProgress: (n) => seen.push(n) });
  assert.ok(seen.length > 1);
  assert.deepEqual([...seen].sort((x, y) => x - y), seen, "monotonic");
  assert.equal(seen.at(-1), await layer.uncompressedSize?.());
});

test("layerFromBlobFile streams verified bytes and fails on a tampered blob", async (t) => {
  const dir = await tempDir(t);
  const layer = await createLayer([{ path: "/a", type: "file", content: "original" }], { blobDir: dir });
  const path = join(dir, "sha256", (await layer.digest()).slice(7));
  const desc = { mediaType: await layer.mediaType(), digest: await layer.digest(), size: await layer.size() };
  const again = layerFromBlobFile(path, desc, await layer.diffId());
  assert.equal(sha(await readAll(await again.compressed())), desc.digest);
  const bytes = await readFile(path);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
  await writeFile(path, bytes);
  await assert.rejects(readAll(await again.compressed()), /digest mismatch/);
});

async function assertNothingWritten(dir: string): Promise<void> {
  const files = (await filesUnder(dir).catch(() => [])).filter((f) => !f.includes("/input/"));
  assert.deepEqual(files, [], "no output written");
}

test("bad input: missing file, FIFO, path through a file, bad paths, duplicates — one line, nothing written", async (t) => {
  const dir = await tempDir(t);
  const input = join(dir, "input");
  await mkdir(input);
  await writeFile(join(input, "file"), "x");
  execFileSync("mkfifo", [join(input, "fifo")]);
  const blobDir = join(dir, "out");
  const cases: { entries: Parameters<typeof createLayer>[0]; match: RegExp; usage?: boolean }[] = [
    { entries: [{ path: "/a", type: "file", source: join(input, "missing") }], match: /^cannot read .*missing \(for \/a\): no such file or directory$/ },
    { entries: [{ path: "/a", type: "file", source: join(input, "fifo") }], match: /^cannot read .*fifo \(for \/a\): it is a FIFO, not a regular file$/ },
    { entries: [{ path: "/a", type: "file", source: join(input, "file", "below") }], match: /^cannot read .*file\/below \(for \/a\): not a directory$/ },
    { entries: [{ path: "/a", type: "file", source: input }], match: /it is a directory/ },
    { entries: [{ path: "relative", type: "file", content: "x" }], match: /must be absolute/, usage: true },
    { entries: [{ path: "/../etc", type: "file", content: "x" }], match: /must not contain "\.\."/, usage: true },
    { entries: [{ path: "/a", type: "file" }], match: /exactly one of source or content/, usage: true },
    { entries: [{ path: "/a", type: "symlink" }], match: /needs a linkname/, usage: true },
    { entries: [{ path: "/a", type: "file", content: "x", mode: 0o10000 }], match: /invalid mode/, usage: true },
    { entries: [{ path: "/a", type: "file", content: "x", uid: -1 }], match: /invalid uid/, usage: true },
    {
      entries: [
        { path: "/a/b", type: "file", content: "1" },
        { path: "/a//b/", type: "file", content: "2" },
      ],
      match: /^duplicate path in layer: \/a\/b$/,
    },
    {
      entries: [
        { path: "/a", type: "file", content: "1" },
        { path: "/a/b", type: "file", content: "2" },
      ],
      match: /\/a is a file but \/a\/b needs it to be a directory/,
    },
  ];
  for (const c of cases) {
    await assert.rejects(
      createLayer(c.entries, { blobDir }),
      (e: unknown) => {
        assert.ok(e instanceof AotpackError, `AotpackError for ${JSON.stringify(c.entries)}`);
        assert.match(e.message, c.match);
        assert.equal(e.exitCode, c.usage ? 2 : 1);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      },
    );
  }
  await assert.rejects(createLayer([], { compression: "lz4" as "gzip", blobDir }), UsageError);
  await assert.rejects(createLayerFromDirectory(input, { blobDir }), /cannot layer .*fifo: it is a FIFO/);
  await assert.rejects(createLayerFromDirectory(join(input, "nope"), { blobDir }), /cannot read .*nope: no such file or directory/);
  await assert.rejects(createLayerFromDirectory(join(input, "file"), { blobDir }), /not a directory/);
  await assertNothingWritten(dir);
});

test("a source whose bytes are not its recorded sha256 when read fails the layer (SourceChangedError), and no blob is written", async (t) => {
  const dir = await tempDir(t);
  const blobs = join(dir, "blobs");
  const source = join(dir, "server");
  await writeFile(source, randomBytes(300_000));
  const right = createHash("sha256").update(await readFile(source)).digest("hex");
  const ok = await createLayer([{ path: "/app/server", type: "file", source, sha256: right }], { blobDir: blobs, sourceDateEpoch: 0 });
  assert.match(await ok.digest(), /^sha256:/);
  const before = await readdir(join(blobs, "sha256"));
  // Same size, one byte changed after the hash was recorded: refused as it is read, not shipped.
  const bytes = await readFile(source);
  bytes[150_000]! ^= 1;
  await writeFile(source, bytes);
  await assert.rejects(
    createLayer([{ path: "/app/server", type: "file", source, sha256: right }], { blobDir: blobs, sourceDateEpoch: 0 }),
    (err: unknown) => err instanceof SourceChangedError && err.source === source && /digest mismatch/.test(err.message),
  );
  assert.deepEqual(await readdir(join(blobs, "sha256")), before, "no new blob, no temp file");
});

test("full disk: 'no space left on device writing <path>' and no partial blob", async (t) => {
  const mnt = await smallTmpfs(t, "2m");
  if (!mnt) return;
  const src = join(await tempDir(t), "random");
  await writeFile(src, randomBytes(4 * 1024 * 1024)); // incompressible, bigger than the disk
  const blobDir = join(mnt, "blobs");
  await assert.rejects(createLayer([{ path: "/big", type: "file", source: src }], { blobDir }), (e: unknown) => {
    assert.ok(e instanceof AotpackError);
    assert.equal(e.exitCode, 1);
    assert.equal(e.message, `no space left on device writing ${join(blobDir, "sha256")}`);
    return true;
  });
  assert.deepEqual(await filesUnder(mnt), []);
});

test("gzipLevel changes the blob but not the diff_id; out-of-range levels are a UsageError", async (t) => {
  const dir = await tempDir(t);
  const entries = [{ path: "/a", type: "file" as const, content: "compressible ".repeat(5000) }];
  const l6 = await createLayer(entries, { blobDir: dir });
  const l1 = await createLayer(entries, { blobDir: dir, gzipLevel: 1 });
  assert.equal(await l1.diffId(), await l6.diffId());
  assert.notEqual(await l1.digest(), await l6.digest());
  await assert.rejects(createLayer(entries, { blobDir: dir, gzipLevel: 0 }), UsageError);
});
