/**
 * Read an OCI image layout back, from a directory or an oci-archive tar (indexed
 * in place, not extracted). Every blob is verified against its digest as it streams.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { verifiedFileStream } from "./blob-stream.ts";
import { digestHex, isDigest, sha256 } from "./digest.ts";
import { errnoCode, fileReadStream, fsError } from "./fs-util.ts";
import { isImageIndex, type Image, type ImageIndex } from "./interfaces.ts";
import { isIndexMediaType, MediaType } from "./media-types.ts";
import { BlobNotFoundError, indexFromCore, itemFromCore, LIMITS, parseIndexManifest, type BlobStore } from "./core.ts";
import { indexArchive, type TarIndexEntry } from "./tar.ts";
import { Annotation, type Descriptor, type IndexManifest } from "./types.ts";

export interface OciLayout {
  /** The layout's index.json as an index. */
  index(): Promise<ImageIndex>;
  /** By org.opencontainers.image.ref.name tag or by digest; the sole entry when omitted. */
  resolve(ref?: string): Promise<Image | ImageIndex>;
  /** The ref.name annotations of index.json, in order. */
  tags(): Promise<string[]>;
}

interface LayoutFiles {
  name: string;
  readSmallFile(path: string): Promise<Buffer | undefined>;
  store: BlobStore;
}

function blobPath(desc: Descriptor): string {
  if (!isDigest(desc.digest)) throw new AotpackError(`unsupported or invalid digest "${desc.digest}" (only sha256 is supported)`);
  return `blobs/sha256/${digestHex(desc.digest)}`;
}

function dirFiles(dir: string): LayoutFiles {
  return {
    name: `oci:${dir}`,
    async readSmallFile(path) {
      try {
        return await readFile(join(dir, path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw fsError(err, "reading", join(dir, path));
      }
    },
    store: {
      name: `oci:${dir}`,
      async open(desc) {
        const path = join(dir, blobPath(desc));
        await stat(path).catch((err: unknown) => {
          const e = fsError(err, "reading", path);
          throw errnoCode(err) === "ENOENT" ? new BlobNotFoundError(e.message, { cause: err }) : e;
        });
        return verifiedFileStream(path, { digest: desc.digest, size: desc.size });
      },
    },
  };
}

function archiveFiles(file: string, entries: Map<string, TarIndexEntry>): LayoutFiles {
  const range = (path: string): TarIndexEntry | undefined => {
    const e = entries.get(path);
    return e && e.type === "file" ? e : undefined;
  };
  return {
    name: `oci-archive:${file}`,
    async readSmallFile(path) {
      const e = range(path);
      if (!e) return undefined;
      if (e.size > LIMITS.manifestBytes) throw new AotpackError(`${path} in ${file} is larger than ${LIMITS.manifestBytes} bytes`);
      const s = e.size === 0 ? [] : fileReadStream(file, { start: e.offset, end: e.offset + e.size - 1 });
      const chunks: Buffer[] = [];
      for await (const c of s as AsyncIterable<Buffer>) chunks.push(c);
      return Buffer.concat(chunks);
    },
    store: {
      name: `oci-archive:${file}`,
      async open(desc) {
        const e = range(blobPath(desc));
        if (!e) throw new BlobNotFoundError(`blob ${desc.digest} is missing from ${file}`);
        return verifiedFileStream(file, { digest: desc.digest, size: desc.size }, { start: e.offset, length: e.size });
      },
    },
  };
}

/** A digest named by an index inside the layout (e.g. one platform's manifest), depth-first. */
async function findNested(list: Descriptor[], digest: string, store: BlobStore, depth = 0): Promise<Descriptor | undefined> {
  if (depth > LIMITS.indexDepth) return undefined;
  for (const d of list) {
    if (!isIndexMediaType(d.mediaType)) continue;
    const index = await itemFromCore(d, store);
    if (!isImageIndex(index)) continue;
    const children = (await index.indexManifest()).manifests;
    const hit = children.find((c) => c.digest === digest) ?? (await findNested(children, digest, store, depth + 1));
    if (hit) return hit;
  }
  return undefined;
}

export async function readLayout(dirOrArchive: string): Promise<OciLayout> {
  let st;
  try {
    st = await stat(dirOrArchive);
  } catch (err) {
    throw fsError(err, "reading", dirOrArchive);
  }
  let files: LayoutFiles;
  if (st.isDirectory()) files = dirFiles(dirOrArchive);
  else if (st.isFile()) {
    files = archiveFiles(dirOrArchive, await indexArchive(dirOrArchive, "an OCI archive"));
  } else throw new AotpackError(`${dirOrArchive} is neither a directory nor an archive file`);

  const layoutFile = await files.readSmallFile("oci-layout");
  if (!layoutFile) throw new AotpackError(`${dirOrArchive} is not an OCI layout (no oci-layout file)`);
  let version: unknown;
  try {
    version = (JSON.parse(layoutFile.toString("utf8")) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    throw new AotpackError(`${dirOrArchive}: oci-layout is not valid JSON`);
  }
  if (typeof version !== "string" || !version.startsWith("1.")) {
    throw new AotpackError(`${dirOrArchive}: unsupported imageLayoutVersion ${JSON.stringify(version)} (expected 1.x)`);
  }

  const loadIndex = async (): Promise<{ raw: Buffer; manifest: IndexManifest }> => {
    const raw = await files.readSmallFile("index.json");
    if (!raw) throw new AotpackError(`${dirOrArchive} is not an OCI layout (no index.json)`);
    const manifest = parseIndexManifest(raw, `${dirOrArchive}: index.json`);
    return { raw, manifest };
  };

  const tagsOf = (m: IndexManifest): string[] =>
    m.manifests.map((d) => d.annotations?.[Annotation.RefName]).filter((t): t is string => typeof t === "string");

  return {
    async index() {
      const { raw } = await loadIndex();
      return indexFromCore({ rawManifest: async () => raw, descriptor: { mediaType: MediaType.OciIndex, digest: sha256(raw), size: raw.length }, store: files.store });
    },
    async tags() {
      return tagsOf((await loadIndex()).manifest);
    },
    async resolve(ref?: string) {
      const { manifest } = await loadIndex();
      const list = manifest.manifests;
      let desc: Descriptor | undefined;
      if (ref === undefined || ref === "") {
        if (list.length !== 1) {
          const tags = tagsOf(manifest);
          throw new AotpackError(
            `${files.name} holds ${list.length} entries; name one${tags.length ? ` (tags: ${tags.join(", ")})` : " by digest"}`,
          );
        }
        desc = list[0];
      } else if (isDigest(ref)) {
        desc = list.find((d) => d.digest === ref) ?? (await findNested(list, ref, files.store));
      } else {
        // Later entries win, matching how a re-tag appends (we also remove the old one).
        desc = [...list].reverse().find((d) => d.annotations?.[Annotation.RefName] === ref);
      }
      if (!desc) {
        const tags = tagsOf(manifest);
        throw new AotpackError(`no image "${ref}" in ${files.name}${tags.length ? ` (tags: ${tags.join(", ")})` : ""}`);
      }
      return itemFromCore(desc, files.store);
    },
  };
}
