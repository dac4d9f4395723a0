import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { AotpackError } from "../errors.ts";

/** `sha256:<64 hex>`; the only algorithm we produce. We refuse others on read. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw new AotpackError(`invalid digest "${s}": expected sha256:<64 lowercase hex>`);
  return s;
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** The hex part, as used in `blobs/sha256/<hex>`. */
export function digestHex(d: Digest): string {
  return d.slice("sha256:".length);
}

/**
 * A pass-through stream that hashes and counts what flows through it, so a digest
 * and size come out of the same pass that writes the bytes.
 */
export class DigestCounter extends Transform {
  #hash: Hash = createHash("sha256");
  #size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    cb(null, chunk);
  }
  /** Valid after the stream has ended. */
  result(): { digest: Digest; size: number } {
    return { digest: `sha256:${this.#hash.digest("hex")}`, size: this.#size };
  }
}

/**
 * Pass-through that fails the stream if the content does not match `expected`
 * (digest and, when given, size). Used for every blob we read from a cache,
 * a layout or a registry.
 */
export class DigestVerifier extends Transform {
  #hash: Hash = createHash("sha256");
  #size = 0;
  constructor(
    readonly expected: Digest,
    readonly expectedSize: number | undefined,
    readonly what: string,
    /** The error a mismatch fails the stream with (default AotpackError), so a caller can tell it apart. */
    readonly mismatch: (message: string) => Error = (m) => new AotpackError(m),
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    if (this.expectedSize !== undefined && this.#size > this.expectedSize) {
      cb(this.mismatch(`${this.what}: more than the expected ${this.expectedSize} bytes (digest ${this.expected})`));
      return;
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const got: Digest = `sha256:${this.#hash.digest("hex")}`;
    if (this.expectedSize !== undefined && this.#size !== this.expectedSize) {
      cb(this.mismatch(`${this.what}: size ${this.#size} does not match the expected ${this.expectedSize}`));
    } else if (got !== this.expected) {
      cb(this.mismatch(`${this.what}: digest mismatch: expected ${this.expected}, got ${got}`));
    } else cb();
  }
}
