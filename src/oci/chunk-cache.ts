/**
 * The store of compressed chunks (see chunked-compress.ts). The interface is just get/put by key;
 * the default is the cache module's keyed store (src/cache.ts: verified on read, atomic writes,
 * evicted with the rest of the cache), under cacheDir("chunks").
 * (The compressor then also decodes each hit and compares it with the chunk: a hit is never trusted.)
 */
import { keyedStore, type CacheWarn, type KeyedStore } from "../cache.ts";

export type ChunkCache = KeyedStore;

/** `<dir>/<key[0..2]>/<key>`, holding sha256(bytes) ‖ bytes (the prefix is for `aotpack cache verify`). */
export function fileChunkCache(dir: string, warn?: CacheWarn): ChunkCache {
  // No hash on read: the compressor decodes every hit and compares it with the chunk, a stronger
  // check than the stored sha256 (which whoever wrote the entry also wrote), at no extra pass.
  return keyedStore(dir, "chunk", warn, { verifyOnRead: false });
}
