/** Sinks for images and indexes: OCI layout dir, OCI archive, docker-archive. */
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import type { Platform } from "../oci/platform.ts";
import { dockerArchivePublisher } from "./docker-archive.ts";
import { layoutPublisher } from "./layout.ts";
import { ociArchivePublisher } from "./oci-archive.ts";
import type { PublishOptions, PublishResult } from "./types.ts";

export type { Publisher, PublishOptions, PublishResult, ProgressEvent } from "./types.ts";
export { layoutPublisher, withLayoutLock } from "./layout.ts";
export { ociArchivePublisher } from "./oci-archive.ts";
export { dockerArchivePublisher, chooseImage, dockerRepoTag } from "./docker-archive.ts";
export { planPublish, type PlannedBlob, type PublishPlan } from "./blobs.ts";

/** Shorthands for one-off writes (the names docs/architecture.md lists). */
export function writeLayout(dir: string, item: Image | ImageIndex, options?: PublishOptions): Promise<PublishResult> {
  return layoutPublisher(dir).publish(item, options);
}

/** `force`: replace a file at `file` that is not an image archive (else refused). */
export function writeOciArchive(file: string, item: Image | ImageIndex, options?: PublishOptions & { force?: boolean }): Promise<PublishResult> {
  const { force, ...rest } = options ?? {};
  return ociArchivePublisher(file, force ? { force } : {}).publish(item, rest);
}

export function writeDockerArchive(
  file: string,
  item: Image | ImageIndex,
  options?: PublishOptions & { platform?: Platform; force?: boolean },
): Promise<PublishResult> {
  const { platform, force, ...rest } = options ?? {};
  return dockerArchivePublisher(file, { ...(platform ? { platform } : {}), ...(force ? { force } : {}) }).publish(item, rest);
}
