/**
 * Read a docker-archive (`docker save`, skopeo's docker-archive:, our sink) in place: its
 * manifest.json names a config and layer files; the image manifest, which the format does not
 * carry, is synthesised (OCI media types, the layer's compression from its magic bytes), and
 * the image is filled in by the one image core, like every other source.
 */
import type { Readable } from "node:stream";
import { stat } from "node:fs/promises";
import { AotpackError, UsageError } from "../errors.ts";
import { readSmall, verifiedFileStream } from "./blob-stream.ts";
import { BlobNotFoundError, imageFromCore, LIMITS, parseJson, type BlobStore } from "./core.ts";
import { DigestCounter, isDigest, type Digest } from "./digest.ts";
import { fileReadStream, fsError } from "./fs-util.ts";
import type { Image } from "./interfaces.ts";
import { canonicalJson } from "./json.ts";
import { MediaType, ociLayerMediaType } from "./media-types.ts";
import { indexArchive, type TarIndexEntry } from "./tar.ts";
import type { Descriptor, ImageManifest } from "./types.ts";

interface ManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function rangeStream(file: string, e: TarIndexEntry): Readable {
  return fileReadStream(file, { start: e.offset, end: Math.max(e.offset, e.offset + e.size - 1) });
}

/** The digest a member's name carries (`blobs/sha256/<hex>`, or a legacy `<hex>.json` config), if any. */
function digestFromName(path: string): Digest | undefined {
  const m = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.json)$/.exec(path);
  const d = m ? `sha256:${m[1] ?? m[2]}` : "";
  return isDigest(d) ? d : undefined;
}

async function hashRange(file: string, e: TarIndexEntry): Promise<Digest> {
  const counter = new DigestCounter();
  if (e.size > 0) for await (const chunk of rangeStream(file, e)) counter.write(chunk);
  counter.end();
  return counter.result().digest;
}

async function layerMediaType(file: string, e: TarIndexEntry): Promise<string> {
  if (e.size < 4) return ociLayerMediaType("none");
  const head = await readSmall(fileReadStream(file, { start: e.offset, end: e.offset + 3 }), 4, "layer header");
  if (head[0] === 0x1f && head[1] === 0x8b) return ociLayerMediaType("gzip");
  if (head.readUInt32LE(0) === 0xfd2fb528) return ociLayerMediaType("zstd");
  return ociLayerMediaType("none");
}

/** "app" → "app:latest" and "docker.io/library/app:1" → "app:1": RepoTags as docker shortens them (skopeo writes them in full). */
function repoTagOf(ref: string): string {
  const short = ref.replace(/^docker\.io\//, "").replace(/^library\//, "");
  return short.slice(short.lastIndexOf("/") + 1).includes(":") ? short : `${short}:latest`;
}

/** The image `ref` (a RepoTag, `name` for `name:latest`, or a tag that one RepoTag ends with) names; the sole one when omitted. */
function chooseEntry(list: ManifestEntry[], ref: string | undefined, file: string): ManifestEntry {
  const tags = list.flatMap((e) => e.RepoTags ?? []);
  if (ref === undefined || ref === "") {
    if (list.length === 1) return list[0]!;
    throw new AotpackError(`${file} holds ${list.length} images; name one${tags.length ? ` (tags: ${tags.join(", ")})` : ""}`);
  }
  const exact = list.filter((e) => (e.RepoTags ?? []).some((t) => repoTagOf(t) === repoTagOf(ref)));
  const byTag = list.filter((e) => (e.RepoTags ?? []).some((t) => t.endsWith(`:${ref}`)));
  const hit = exact.length === 1 ? exact[0] : exact.length === 0 && byTag.length === 1 ? byTag[0] : undefined;
  if (!hit) throw new AotpackError(`no image "${ref}" in docker-archive:${file}${tags.length ? ` (tags: ${tags.join(", ")})` : ""}`);
  return hit;
}

export async function readDockerArchive(file: string, ref?: string): Promise<Image> {
  const st = await stat(file).catch((err: unknown) => {
    throw fsError(err, "reading", file);
  });
  if (!st.isFile()) throw new UsageError(`${file} is not a docker-archive file`);
  const entries = await indexArchive(file, "a docker archive");
  const name = `docker-archive:${file}`;
  const member = (path: string): TarIndexEntry => {
    const e = entries.get(path);
    if (!e || e.type !== "file") throw new BlobNotFoundError(`${path} is missing from ${name}`);
    return e;
  };
  const manifestEntry = entries.get("manifest.json");
  if (!manifestEntry) throw new AotpackError(`${file} is not a docker archive (no manifest.json)`);
  if (manifestEntry.size > LIMITS.manifestBytes) throw new AotpackError(`manifest.json in ${file} is larger than ${LIMITS.manifestBytes} bytes`);
  const list = parseJson<ManifestEntry[]>(await readSmall(rangeStream(file, manifestEntry), LIMITS.manifestBytes, `manifest.json in ${file}`), `manifest.json in ${file}`);
  if (!Array.isArray(list) || list.some((e) => !e || typeof e.Config !== "string" || !Array.isArray(e.Layers))) {
    throw new AotpackError(`manifest.json in ${file} is not a docker-archive manifest (a list of { Config, Layers })`);
  }
  const chosen = chooseEntry(list, ref, file);

  // Blobs by digest: named ones by their name, legacy ones (`<id>/layer.tar`) hashed once here.
  const byDigest = new Map<Digest, TarIndexEntry>();
  const describe = async (path: string, mediaType: (e: TarIndexEntry) => Promise<string>): Promise<Descriptor> => {
    const e = member(path);
    const digest = digestFromName(path) ?? (await hashRange(file, e));
    byDigest.set(digest, e);
    return { mediaType: await mediaType(e), digest, size: e.size };
  };
  const config = await describe(chosen.Config, async () => MediaType.OciConfig);
  const layers: Descriptor[] = [];
  for (const path of chosen.Layers) layers.push(await describe(path, (e) => layerMediaType(file, e)));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers };
  const raw = canonicalJson(manifest);

  const store: BlobStore = {
    name,
    async open(desc) {
      const e = byDigest.get(desc.digest);
      if (!e) throw new BlobNotFoundError(`blob ${desc.digest} is missing from ${name}`);
      return verifiedFileStream(file, { digest: desc.digest, size: desc.size }, { start: e.offset, length: e.size });
    },
  };
  return imageFromCore({ rawManifest: async () => raw, store });
}
