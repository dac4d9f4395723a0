/**
 * A content-keyed store of compressed chunks (see chunked-compress.ts). The interface is just
 * get/put by key so another store (the shared cache module) can back it; every read is checked
 * against the sha256 of its bytes that was stored with them, so a corrupted file is a miss.
 * (The compressor then also decodes each hit and compares it with the chunk: a hit is never trusted.)
 */
import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, writeFileAtomic } from "./fs-util.ts";

export interface ChunkCache {
  /** The bytes stored under `key`, or undefined (absent or failing its content hash). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Store `bytes` under `key`; failures are the caller's to ignore (the cache is an optimisation). */
  put(key: string, bytes: Uint8Array): Promise<void>;
}

const HASH_BYTES = 32;
const KEY_RE = /^[a-f0-9]{64}$/;

/** `<dir>/<key[0..2]>/<key>`, holding sha256(bytes) ‖ bytes. No eviction here: the cache's owner prunes. */
export function fileChunkCache(dir: string): ChunkCache {
  const pathOf = (key: string): string => {
    if (!KEY_RE.test(key)) throw new Error(`chunk cache key must be 64 hex digits, got ${JSON.stringify(key)}`);
    return join(dir, key.slice(0, 2), key);
  };
  return {
    async get(key) {
      const path = pathOf(key);
      let file: Buffer;
      try {
        file = await readFile(path);
      } catch (err) {
        if (errnoCode(err) === "ENOENT") return undefined;
        throw err;
      }
      const bytes = file.subarray(HASH_BYTES);
      if (file.length < HASH_BYTES || !createHash("sha256").update(bytes).digest().equals(file.subarray(0, HASH_BYTES))) {
        await rm(path, { force: true });
        return undefined;
      }
      return bytes;
    },
    async put(key, bytes) {
      await writeFileAtomic(pathOf(key), Buffer.concat([createHash("sha256").update(bytes).digest(), bytes]));
    },
  };
}
