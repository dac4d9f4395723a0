/** Streaming HTTP downloads for the Debian mirror: bounded by a timeout, written atomically. */
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable, Transform } from "node:stream";
import { randomBytes } from "node:crypto";
import { AotpackError, errorMessage } from "../errors.ts";
import { pipelineToNewFile } from "../oci/fs-util.ts";
import { formatBytes } from "../bytes.ts";

export interface DownloadOptions {
  timeoutMs?: number;
  /** Checks the bytes while they stream (e.g. a DigestVerifier); a failure leaves nothing behind. */
  verifier?: Transform;
  /** "<label>: 3.1 MB of 8.5 MB" lines while a download runs, at most every progressEveryMs (default 2 s). */
  onProgress?: (message: string) => void;
  label?: string;
  progressEveryMs?: number;
}

/** Counts the bytes through it and says how far the download is, at most every `everyMs`. */
function byteProgress(label: string, total: number | undefined, everyMs: number, say: (m: string) => void): Transform {
  let done = 0;
  let last = Date.now();
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.length;
      const now = Date.now();
      if (now - last >= everyMs) {
        last = now;
        say(`${label}: ${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ""}`);
      }
      callback(null, chunk);
    },
  });
}

async function get(url: string, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (err) {
    throw new AotpackError(`cannot fetch ${url}: ${errorMessage(err)}`, {
      hint: "check the Debian mirror (--debian-mirror) and the network",
      cause: err,
    });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new AotpackError(`cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  return res;
}

/** Download `url` to `dest` (temp file beside it, then rename). */
export async function downloadToFile(url: string, dest: string, options: DownloadOptions = {}): Promise<void> {
  const res = await get(url, options.timeoutMs ?? 300_000);
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await pipelineToNewFile(tmp, () => {
      const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
      const length = Number(res.headers.get("content-length") ?? "") || undefined;
      const progress = options.onProgress ? [byteProgress(options.label ?? url, length, options.progressEveryMs ?? 2000, options.onProgress)] : [];
      return [body, ...progress, ...(options.verifier ? [options.verifier] : [])];
    });
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof AotpackError) throw err;
    throw new AotpackError(`cannot fetch ${url}: ${errorMessage(err)}`, { cause: err });
  }
}
