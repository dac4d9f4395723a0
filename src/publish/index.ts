export type { Publisher, PublishOptions, PublishResult, ProgressEvent } from "./types.ts";
export { layoutPublisher } from "./layout.ts";
export { ociArchivePublisher } from "./oci-archive.ts";
export { dockerArchivePublisher, chooseImage } from "./docker-archive.ts";
export { planPublish, type PlannedBlob, type PublishPlan } from "./blobs.ts";

import type { Image, ImageIndex } from "../oci/interfaces.ts";
import type { Platform } from "../oci/platform.ts";
import { layoutPublisher as layout } from "./layout.ts";
import { ociArchivePublisher as ociArchive } from "./oci-archive.ts";
import { dockerArchivePublisher as dockerArchive } from "./docker-archive.ts";
import type { PublishOptions, PublishResult } from "./types.ts";

/** Shorthands for one-off writes (the names docs/architecture.md lists). */
export function writeLayout(dir: string, item: Image | ImageIndex, options?: PublishOptions): Promise<PublishResult> {
  return layout(dir).publish(item, options);
}
export function writeOciArchive(file: string, item: Image | ImageIndex, options?: PublishOptions): Promise<PublishResult> {
  return ociArchive(file).publish(item, options);
}
export function writeDockerArchive(
  file: string,
  item: Image | ImageIndex,
  options?: PublishOptions & { platform?: Platform },
): Promise<PublishResult> {
  const { platform, ...rest } = options ?? {};
  return dockerArchive(file, platform ? { platform } : {}).publish(item, rest);
}
