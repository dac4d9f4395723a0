/** Streaming HTTP downloads for the Debian mirror: bounded by a timeout, written atomically. */
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable, type Transform } from "node:stream";
import { randomBytes } from "node:crypto";
import { AotpackError, errorMessage } from "../errors.ts";
import { pipelineToNewFile } from "../oci/fs-util.ts";

export interface DownloadOptions {
  timeoutMs?: number;
  /** Checks the bytes while they stream (e.g. a DigestVerifier); a failure leaves nothing behind. */
  verifier?: Transform;
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
      return options.verifier ? [body, options.verifier] : [body];
    });
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof AotpackError) throw err;
    throw new AotpackError(`cannot fetch ${url}: ${errorMessage(err)}`, { cause: err });
  }
}
