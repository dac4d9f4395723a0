/** The shared source contract, run against the layout dir and oci-archive readers (written by our publishers). */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { test } from "node:test";
import { promisify } from "node:util";
import { requireTools } from "../../test/support/registry.ts";
import { tempDir } from "../../test/support/tools.ts";
import { buildHelloIndex } from "../oci/testing/fixtures.ts";
import { validate } from "../oci/validate.ts";
import { openSource } from "../transports/index.ts";
import { join } from "node:path";
import { digestHex, type Digest } from "../oci/digest.ts";
import { readLayout } from "../oci/layout-source.ts";
import { indexTarFile } from "../oci/tar.ts";
import { sourceContract, type SourceContext } from "../oci/testing/source-contract.ts";
import { readDockerArchive } from "../oci/docker-archive-source.ts";
import { dockerArchivePublisher } from "./docker-archive.ts";
import { layoutPublisher } from "./layout.ts";
import { ociArchivePublisher } from "./oci-archive.ts";

const run = promisify(execFile);
const blob = (dir: string, d: Digest): string => join(dir, "blobs", "sha256", digestHex(d));

sourceContract("oci layout directory", {
  write: async (item, tag, ctx) => void (await layoutPublisher(join(ctx.dir, "layout")).publish(item, { tag })),
  open: async (tag, ctx) => (await readLayout(join(ctx.dir, "layout"))).resolve(tag),
  tamper: async (d, ctx) => {
    const bytes = await readFile(blob(join(ctx.dir, "layout"), d));
    bytes[20] = bytes[20]! ^ 0xff;
    await writeFile(blob(join(ctx.dir, "layout"), d), bytes);
  },
  remove: (d, ctx) => rm(blob(join(ctx.dir, "layout"), d)),
});

/** Rewrite one byte of an archive in place. */
async function patchByte(file: string, offset: number, edit: (b: number) => number): Promise<void> {
  const fh = await open(file, "r+");
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = edit(b[0]!);
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

/** Rename a tar member in place (its header's name, then the header checksum), so the blob is gone. */
async function renameMember(file: string, name: string): Promise<void> {
  const entry = (await indexTarFile(file)).get(name);
  if (!entry) throw new Error(`no ${name} in ${file}`);
  const fh = await open(file, "r+");
  try {
    const header = Buffer.alloc(512);
    await fh.read(header, 0, 512, entry.offset - 512);
    const at = header.indexOf(Buffer.from(name.slice(-8)));
    header[at] = "g".charCodeAt(0); // not hex: no digest names it any more
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    await fh.write(header, 0, 512, entry.offset - 512);
  } finally {
    await fh.close();
  }
}

const archive = (ctx: SourceContext): string => join(ctx.dir, "image.tar");
sourceContract("oci-archive", {
  write: async (item, tag, ctx) => void (await ociArchivePublisher(archive(ctx)).publish(item, { tag })),
  open: async (tag, ctx) => (await readLayout(archive(ctx))).resolve(tag),
  tamper: async (d, ctx) => {
    const entry = (await indexTarFile(archive(ctx))).get(`blobs/sha256/${digestHex(d)}`)!;
    await patchByte(archive(ctx), entry.offset + 20, (b) => b ^ 0xff);
  },
  remove: (d, ctx) => renameMember(archive(ctx), `blobs/sha256/${digestHex(d)}`),
});

// One archive per tag: a docker-archive holds one image, and each write replaces the file.
const dockerArchive = (ctx: SourceContext, tag: string): string => join(ctx.dir, `${tag}.docker.tar`);
sourceContract("docker-archive", {
  singleImage: true,
  write: async (item, tag, ctx) => void (await dockerArchivePublisher(dockerArchive(ctx, tag)).publish(item, { tag: `app:${tag}` })),
  open: (tag, ctx) => readDockerArchive(dockerArchive(ctx, tag), `app:${tag}`),
  tamper: async (d, ctx) => {
    const entry = (await indexTarFile(dockerArchive(ctx, "v1"))).get(`blobs/sha256/${digestHex(d)}`)!;
    await patchByte(dockerArchive(ctx, "v1"), entry.offset + 20, (b) => b ^ 0xff);
  },
  remove: (d, ctx) => renameMember(dockerArchive(ctx, "v1"), `blobs/sha256/${digestHex(d)}`),
});

test("a docker-archive written by skopeo (legacy layout, layers named by id) reads back and validates", async (t) => {
  if (!requireTools(t, ["skopeo"])) return;
  const dir = await tempDir(t);
  const f = await buildHelloIndex(dir);
  await layoutPublisher(join(dir, "layout")).publish(f.amd64, { tag: "v1" });
  const file = join(dir, "skopeo.tar");
  await run("skopeo", ["--insecure-policy", "copy", `oci:${join(dir, "layout")}:v1`, `docker-archive:${file}:team/hello:v1`], { timeout: 60_000 });
  const back = await readDockerArchive(file, "team/hello:v1");
  await validate(back);
  const [want] = await f.amd64.layers();
  const [got] = await back.layers();
  assert.equal(await got!.diffId(), await want!.diffId());
  assert.equal((await back.configFile()).architecture, "amd64");
  // And through the transport registry, as an IMAGE argument.
  const opened = await openSource(`docker-archive:${file}:team/hello:v1`);
  assert.equal(await opened.item.digest(), await back.digest());
});
