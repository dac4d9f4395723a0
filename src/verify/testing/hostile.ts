/**
 * Hostile images for the run/verify sandbox tests, written as OCI layouts byte by byte so
 * they can say what a well-behaved writer never would: lying tar headers, wrong diff_ids,
 * gzip bombs. The probe app is a static C program compiled here (gcc, cross gcc for arm64).
 */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { sha256 } from "../../oci/digest.ts";
import { MediaType } from "../../oci/media-types.ts";
import type { Platform } from "../../oci/platform.ts";
import type { RuntimeConfig } from "../../oci/types.ts";
export { tarBytes } from "./images.ts";

export const PROBE_SOURCE = fileURLToPath(new URL("../testdata/hostile-probe.c", import.meta.url));

/** Compile the probe statically for `platform`; returns the executable's path. */
export async function compileProbe(platform: Platform, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const gcc = platform.architecture === "arm64" ? "aarch64-linux-gnu-gcc" : "gcc";
  const out = join(outDir, `probe-${platform.architecture}`);
  await promisify(execFile)(gcc, ["-static", "-O1", "-o", out, PROBE_SOURCE], { timeout: 120_000 });
  return out;
}

/** A 512-byte ustar header for a regular file of `size` bytes (base-256 when it needs more than 11 octal digits). */
export function fileHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  else {
    h[124] = 0x80;
    h.writeBigUInt64BE(BigInt(size), 128);
  }
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/**
 * A gzip layer that inflates to a tar holding one file of `bytes` zeros, built without ever
 * holding them: gzip members concatenate, so one compressed 64 MiB run of zeros is repeated.
 */
export function gzipBomb(bytes: number): Buffer {
  const run = 64 << 20;
  if (bytes % run !== 0) throw new Error("the bomb's size must be a multiple of 64 MiB");
  const zeros = gzipSync(Buffer.alloc(run), { level: 9 });
  const members = [gzipSync(fileHeader("bomb", bytes))];
  for (let i = 0; i < bytes / run; i++) members.push(zeros);
  members.push(gzipSync(Buffer.alloc(1024)));
  return Buffer.concat(members);
}

export interface RawLayer {
  bytes: Buffer;
  gzip?: boolean;
  /** Default: the sha256 of the uncompressed bytes (when not gzip) — say it to lie. */
  diffId?: string;
}

/** Write an OCI layout with one image (tag `tag`) made of exactly these bytes. */
export async function writeRawImage(dir: string, tag: string, platform: Platform, layers: RawLayer[], config: RuntimeConfig): Promise<string> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  const put = async (bytes: Buffer, mediaType: string) => {
    const digest = sha256(bytes);
    await writeFile(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const layerDescs = [];
  const diffIds: string[] = [];
  for (const l of layers) {
    layerDescs.push(await put(l.bytes, l.gzip ? MediaType.OciLayerGzip : MediaType.OciLayer));
    diffIds.push(l.diffId ?? sha256(l.bytes));
  }
  const configBytes = Buffer.from(JSON.stringify({ architecture: platform.architecture, os: platform.os, config, rootfs: { type: "layers", diff_ids: diffIds } }));
  const configDesc = await put(configBytes, MediaType.OciConfig);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: layerDescs }));
  const manifestDesc = await put(manifest, MediaType.OciManifest);
  await writeFile(join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`);
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...manifestDesc, platform, annotations: { "org.opencontainers.image.ref.name": tag } }] }),
  );
  return `oci:${dir}:${tag}`;
}
