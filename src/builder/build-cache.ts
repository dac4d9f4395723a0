/**
 * The build's cache: compiled artifacts (by project fingerprint) and app layers (by the
 * sha256 of the bytes that go in). Both follow src/cache.ts's rule: every file is re-hashed
 * when used, a bad entry is dropped with a warning and rebuilt, never shipped.
 */
import { createHash, randomUUID } from "node:crypto";
import { compressorIdentity } from "../oci/compress.ts";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { isAbsolute, join, resolve, sep } from "node:path";
import { artifactKey, changedSince, compileInputFiles, hashInputs, inputsRecords, rootRelative, type HashMemo, type InputHash } from "./compile-key.ts";
import { AotpackError } from "../errors.ts";
import { cacheDir, cacheFsError, namesBlob, noteCacheWrite, placeDirEntry, readCacheRecord, touchUsed, verifyCachedFile, type CacheWarn } from "../cache.ts";
import { fileChunkCache } from "../oci/chunk-cache.ts";
import type { Artifact, CompileRequest, Compiler } from "../compile/types.ts";
import { createLayer, layerFromBlobFile, SourceChangedError, type LayerEntry } from "../oci/layer.ts";
import { removeDeadTemps, sha256File, tempPathBeside, writeFileAtomic } from "../oci/fs-util.ts";
import type { Layer } from "../oci/interfaces.ts";
import type { Compression } from "../oci/media-types.ts";
import type { Descriptor } from "../oci/types.ts";
import type { Digest } from "../oci/digest.ts";

interface CachedArtifact extends Omit<Artifact, "layers"> {
  layers: { name: string; files: { path: string; relSource: string; mode: number; sha256: string }[] }[];
}

export interface CompiledArtifact {
  artifact: Artifact;
  /** The artifact's cache key: the lookup key and the current hashes of what the compile read (compile-key.ts). */
  key: string;
  fromCache: boolean;
  /** sha256 of every artifact file as recorded when it was compiled, by source path (checked before use). */
  fileHashes: Map<string, string>;
}

/** How a compile is found in the cache (compile-key.ts): the first-level key, the folder inputs are named from, and the build's hashes. */
export interface CompileKey {
  lookup: string;
  root: string;
  hashes: HashMemo;
}

/** A cached artifact whose every file still hashes to what was recorded, or undefined (dropped). */
async function readCachedArtifact(dir: string, key: string, warn: CacheWarn): Promise<CompiledArtifact | undefined> {
  const meta = await readFile(join(dir, "artifact.json"), "utf8").catch(() => undefined);
  if (meta === undefined) return undefined;
  let cached: CachedArtifact;
  try {
    cached = JSON.parse(meta) as CachedArtifact;
    if (!Array.isArray(cached.layers)) throw new Error("no layers");
  } catch {
    warn(`cache: artifact ${key.slice(0, 12)}… has an unreadable record (${join(dir, "artifact.json")}); dropped it, compiling again`);
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  const fileHashes = new Map<string, string>();
  const layers = cached.layers.map((l) => ({
    name: l.name,
    files: l.files.map((f) => ({ path: f.path, source: isAbsolute(f.relSource) ? f.relSource : join(dir, f.relSource), mode: f.mode, sha256: f.sha256 })),
  }));
  // Not hashed here: a layer is only ever made from these files after they are checked against
  // their recorded sha256 (layerCached), and a cached layer is checked against its own digest.
  // So the layer key (the recorded hashes) always names the bytes in the layer.
  for (const f of layers.flatMap((l) => l.files)) fileHashes.set(f.source, f.sha256);
  await touchUsed(dir);
  const artifact: Artifact = {
    ...cached,
    layers: layers.map((l) => ({ name: l.name, files: l.files.map(({ path, source, mode }) => ({ path, source, mode })) })),
  };
  // Symbols are stored relative to the entry, like the layer files.
  if (cached.symbols) artifact.symbols = cached.symbols.map((rel) => join(dir, rel));
  return { artifact, key, fromCache: true, fileHashes };
}

/** The cached artifact whose recorded inputs all still have their recorded hashes, if any. */
async function lookupArtifact(key: CompileKey, root: string, warn: CacheWarn): Promise<CompiledArtifact | undefined> {
  for (const recorded of await inputsRecords(warn).candidates(key.lookup)) {
    const now = await hashInputs(key.root, recorded.map(([path]) => path), key.hashes);
    if (!now || now.some(([, sha], i) => sha !== recorded[i]![1])) continue;
    const k = artifactKey(key.lookup, recorded);
    const hit = await readCachedArtifact(join(root, k), k, warn);
    if (hit) return hit;
  }
  // A compiler that keeps no record of what it read (.NET): the lookup key is the whole key.
  return readCachedArtifact(join(root, key.lookup), key.lookup, warn);
}

/**
 * Where a fresh compile goes: under the hashes of what it read, recorded for the next lookup; under
 * the lookup key for a compiler that reports no inputs; under a key no lookup finds when an input
 * changed during the compile (its hash now may not be what was read: the next build compiles again).
 */
async function placeFor(artifact: Artifact, key: CompileKey, projectDir: string, started: number, warn: CacheWarn): Promise<{ key: string; record?: InputHash[]; outside?: NonNullable<Artifact["inputs"]>["outsideProject"] }> {
  if (!artifact.readFiles) return { key: key.lookup };
  const files = await compileInputFiles(artifact.readFiles, key.root);
  // Hashed afresh, not from the build's memo: a file edited since the lookup is what this compile read.
  const inputs = await hashInputs(key.root, files, new Map());
  const outsideFiles = artifact.readFiles.filter((f) => !f.startsWith(resolve(projectDir) + sep) && !f.split(sep).includes("node_modules"));
  const byPath = new Map(inputs ?? []);
  const outside = [];
  for (const f of outsideFiles) {
    const sha256 = byPath.get(rootRelative(key.root, f));
    // SPDX 2.3 wants a SHA1 for every file: these are a few source files, read once more.
    const sha1 = sha256 && (await readFile(f).then((b) => createHash("sha1").update(b).digest("hex"), () => undefined));
    if (sha256 && sha1) outside.push({ path: rootRelative(key.root, f), sha256, sha1 });
  }
  const changed = inputs ? await changedSince(key.root, files, started) : "a file";
  if (!inputs || changed) {
    warn(`cache: ${inputs ? changed : "an input"} changed while it was compiled; this compile is not reused`);
    return { key: createHash("sha256").update(`${key.lookup}\0${randomUUID()}`).digest("hex"), outside };
  }
  return { key: artifactKey(key.lookup, inputs), record: inputs, outside };
}

export async function compileCached(
  compiler: Compiler,
  request: Omit<CompileRequest, "outDir">,
  key: CompileKey,
  useCache: boolean,
  warn: CacheWarn,
): Promise<CompiledArtifact> {
  const root = cacheDir("artifacts");
  if (useCache) {
    const hit = await lookupArtifact(key, root, warn);
    if (hit) return hit;
  }
  await mkdir(root, { recursive: true }).catch((err: unknown) => {
    throw cacheFsError(err, "creating", root);
  });
  // A dot name with our pid: never listed as an entry, and `cache prune` sweeps it if we die.
  const tmp = tempPathBeside(join(root, key.lookup));
  await mkdir(tmp).catch((err: unknown) => {
    throw cacheFsError(err, "creating", tmp);
  });
  try {
    // A little early: file times come from the kernel's coarse clock (a tick, up to 10 ms, behind
    // Date.now()), so a file written just after the start can carry a time just before it.
    const started = Date.now() - 50;
    const compiled = await compiler.compile({ ...request, outDir: tmp });
    const place = await placeFor(compiled, key, request.projectDir, started, warn);
    // Host paths stay out of the cache's records (the inputs record names them from the root).
    const { readFiles: _read, ...artifact } = compiled;
    if (place.outside?.length) artifact.inputs = { ...artifact.inputs, outsideProject: place.outside };
    const dir = join(root, place.key);
    const cachedLayers: CachedArtifact["layers"] = [];
    const fileHashes = new Map<string, string>();
    const final = new Map<string, string>(); // source in tmp → source in the cache
    for (const layer of artifact.layers) {
      const files = [];
      for (const f of layer.files) {
        // Files under the compile dir are stored relative to it; others (a cached runtime that
        // layered mode ships as is) keep their absolute path and are hashed on use like the rest.
        const inside = resolve(f.source).startsWith(resolve(tmp) + "/");
        const sha = await sha256File(f.source);
        const relSource = inside ? resolve(f.source).slice(resolve(tmp).length + 1) : resolve(f.source);
        const source = inside ? join(dir, relSource) : relSource;
        final.set(f.source, source);
        fileHashes.set(source, sha);
        files.push({ path: f.path, relSource, mode: f.mode, sha256: sha });
      }
      cachedLayers.push({ name: layer.name, files });
    }
    const meta: CachedArtifact = { ...artifact, layers: cachedLayers };
    const symbols = artifact.symbols?.map((f) => resolve(f).slice(resolve(tmp).length + 1));
    if (symbols) meta.symbols = symbols;
    await writeFileAtomic(join(tmp, "artifact.json"), JSON.stringify(meta, null, 2));
    // --no-cache (or a stale artifact) replaces the entry. Otherwise a dir here now was placed by
    // another build of the same key: theirs wins when it checks out, else it is dropped and ours placed.
    if (!useCache) await rm(dir, { recursive: true, force: true });
    let result: CompiledArtifact | undefined;
    if (!(await placeDirEntry(tmp, dir))) {
      const theirs = await readCachedArtifact(dir, place.key, warn);
      if (theirs) {
        await rm(tmp, { recursive: true, force: true });
        result = { ...theirs, fromCache: false };
      } else {
        await rm(dir, { recursive: true, force: true });
        if (!(await placeDirEntry(tmp, dir))) throw cacheFsError(new Error("another build keeps replacing it"), "renaming", dir);
      }
    }
    // Recorded only once the artifact is in place: a record never names a missing entry for long.
    if (place.record) await inputsRecords(warn).add(key.lookup, place.record);
    if (result) return result;
    const placed: Artifact = {
      ...artifact,
      layers: artifact.layers.map((l) => ({ name: l.name, files: l.files.map((f) => ({ ...f, source: final.get(f.source) ?? f.source })) })),
    };
    if (symbols) placed.symbols = symbols.map((rel) => join(dir, rel));
    return { artifact: placed, key: place.key, fromCache: false, fileHashes };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

let deadTempsSwept: Promise<number> | undefined;

/** An artifact file no longer has the bytes it was compiled with: compile again. */
export class StaleArtifactError extends AotpackError {}

/** Check that every entry's source still hashes to `expected` (same order) before a layer is made from it. */
function staleArtifact(source: string | undefined, why: string): StaleArtifactError {
  return new StaleArtifactError(`cache: artifact file ${source} ${why}; dropped the artifact, compiling again`);
}

/** Every source still there; whether its bytes are the recorded ones is checked as the layer reads them. */
async function checkSourcesExist(entries: LayerEntry[]): Promise<void> {
  for (const e of entries) if (!(await stat(e.source!).catch(() => undefined))?.isFile()) throw staleArtifact(e.source, "is missing");
}

interface CachedLayerMeta {
  descriptor: Descriptor;
  diffId: Digest;
  uncompressedBytes: number;
  blob: string;
}

/**
 * An app layer from the cache when its blob still hashes to its digest, else made again.
 * `contentKey` must name the sha256 of the entries' current bytes (see compileCached).
 */
export async function layerCached(
  entries: LayerEntry[],
  /** sha256 of each entry's source, in order: the layer's key, and checked before a layer is made. */
  sourceHashes: string[],
  contentKey: string,
  compression: Compression,
  epoch: number,
  useCache: boolean,
  warn: CacheWarn,
): Promise<{ layer: Layer; fromCache: boolean }> {
  const key = createHash("sha256")
    .update(JSON.stringify({ contentKey, sourceHashes, compression, compressor: compressorIdentity(compression), epoch, entries: entries.map((e) => ({ ...e, source: undefined })) }))
    .digest("hex");
  const metaPath = join(cacheDir("layers"), `${key}.json`);
  const blobs = cacheDir("blobs");
  // Once per process: layer writes killed mid-blob leave `.layer.tmp-PID-*` files here.
  deadTempsSwept ??= removeDeadTemps(join(blobs, "sha256")).catch(() => 0);
  await deadTempsSwept;
  if (useCache) {
    // A record that is not JSON (or names no blob) is dropped with a warning naming it: a miss.
    const isRecord = (v: unknown): v is CachedLayerMeta => namesBlob(v) && typeof (v as CachedLayerMeta).diffId === "string";
    const m = await readCacheRecord(metaPath, "layer record", isRecord, warn);
    if (m) {
      // The blob lives where its digest says, whatever the record claims.
      const blob = join(blobs, "sha256", m.descriptor.digest.slice("sha256:".length));
      if ((await stat(blob).catch(() => undefined))?.size === m.descriptor.size) {
        await touchUsed(metaPath, blob);
        const make = () => makeLayer(entries, sourceHashes, compression, epoch, blobs, metaPath, warn);
        return { layer: healingLayer(blob, m, make, warn), fromCache: true };
      }
      await rm(metaPath, { force: true });
    }
  }
  return { layer: await makeLayer(entries, sourceHashes, compression, epoch, blobs, metaPath, warn), fromCache: false };
}

async function makeLayer(entries: LayerEntry[], sourceHashes: string[], compression: Compression, epoch: number, blobs: string, metaPath: string, warn: CacheWarn): Promise<Layer> {
  await checkSourcesExist(entries);
  // Each source is hashed as the tar reads it (one pass, and no window between a check and the read):
  // bytes that are not the recorded ones fail the layer, which is then never written.
  const verified = entries.map((e, i) => ({ ...e, sha256: sourceHashes[i]! }));
  let layer: Layer;
  try {
    layer = await createLayer(verified, { compression, sourceDateEpoch: epoch, blobDir: blobs, chunkCache: fileChunkCache(cacheDir("chunks"), warn) });
  } catch (err) {
    if (err instanceof SourceChangedError) throw staleArtifact(err.source, "changed since it was compiled");
    throw err;
  }
  const blob = join(blobs, "sha256", (await layer.digest()).slice(7));
  const meta: CachedLayerMeta = {
    descriptor: { mediaType: await layer.mediaType(), digest: await layer.digest(), size: await layer.size() },
    diffId: await layer.diffId(),
    uncompressedBytes: (await layer.uncompressedSize?.()) ?? -1,
    blob,
  };
  // A unique temp name per write: in layered mode both platforms record the same app layer at once.
  await writeFileAtomic(metaPath, JSON.stringify(meta));
  noteCacheWrite();
  return layer;
}

/**
 * A cached layer whose blob is hashed the first time it is read (a build that only updates an
 * output already holding it never reads it). A bad blob is dropped with a warning and the layer
 * made again from its verified sources (same inputs, same bytes), so the build still succeeds.
 */
function healingLayer(blob: string, m: CachedLayerMeta, make: () => Promise<Layer>, warn: CacheWarn): Layer {
  const hex = m.descriptor.digest.slice("sha256:".length);
  let checked: Promise<void> | undefined;
  const check = (): Promise<void> =>
    (checked ??= (async () => {
      if (await verifyCachedFile(blob, hex, `layer ${m.descriptor.digest.slice(0, 19)}…`, warn)) return;
      const again = await make();
      if ((await again.digest()) !== m.descriptor.digest) {
        throw new AotpackError(`cache: layer ${m.descriptor.digest} made again came out as ${await again.digest()}; run the build again`);
      }
    })());
  const inner = layerFromBlobFile(blob, m.descriptor, m.diffId, m.uncompressedBytes >= 0 ? m.uncompressedBytes : undefined);
  return {
    ...inner,
    compressed: async () => {
      await check();
      return inner.compressed();
    },
    uncompressed: async () => {
      await check();
      return inner.uncompressed();
    },
    blobFile: async () => {
      await check();
      return inner.blobFile!();
    },
  };
}
