/**
 * The sink contract from the brief, mirrored here until src/publish/index.ts lands;
 * structurally identical, so a registry publisher is a Publisher either way.
 */
import type { Digest } from "../oci/digest.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";

export interface PublishResult {
  reference: string;
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

export interface Publisher {
  readonly kind: string;
  publish(item: Image | ImageIndex, options?: PublishOptions): Promise<PublishResult>;
}
