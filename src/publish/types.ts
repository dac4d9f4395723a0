import type { Digest } from "../oci/digest.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";

export interface PublishResult {
  /** Where it went, in skopeo's transport syntax, e.g. "oci:/out:v1", "docker-archive:/x.tar:app:v1". */
  reference: string;
  /** Digest of what was published (the index, or the image; docker-archive: the chosen image's manifest). */
  digest: Digest;
  mediaType: string;
  size: number;
}

export type ProgressEvent =
  | { kind: "blob"; digest: Digest; done: number; total: number; skipped?: boolean }
  | { kind: "manifest"; digest: Digest };

export interface PublishOptions {
  tag?: string;
  onProgress?: (e: ProgressEvent) => void;
}

/** A sink for images and indexes: layout dir, oci-archive, docker-archive, registry. */
export interface Publisher {
  readonly kind: string;
  publish(item: Image | ImageIndex, options?: PublishOptions): Promise<PublishResult>;
}
