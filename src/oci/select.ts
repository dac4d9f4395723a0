/**
 * The one place a platform's image is picked from an image or an index (registry pulls,
 * verify/run, docker-archive, build outputs, inspect, sbom): index children are flattened to
 * LIMITS.indexDepth and attestation manifests skipped (platformEntries), as containerd does.
 */
import { LIMITS } from "./core.ts";
import { descriptorOf, isImageIndex, type Image, type ImageIndex } from "./interfaces.ts";
import { isIndexMediaType, isManifestMediaType } from "./media-types.ts";
import { formatPlatform, hostPlatform, platformEntries, platformEquals, platformOfConfig, type Platform } from "./platform.ts";
import type { Descriptor } from "./types.ts";
import { AotpackError } from "../errors.ts";

export interface ImageEntry {
  /** From the index descriptor, or the config for a single image; undefined when an index entry names none. */
  platform: Platform | undefined;
  descriptor: Descriptor;
  open(): Promise<Image>;
}

/** The runnable images of `item`: itself for an image; for an index, its image entries, nested indexes flattened. */
export async function imageEntries(item: Image | ImageIndex, depth = 0): Promise<ImageEntry[]> {
  if (!isImageIndex(item)) {
    return [{ platform: platformOfConfig(await item.configFile()), descriptor: await descriptorOf(item), open: async () => item }];
  }
  const out: ImageEntry[] = [];
  for (const d of platformEntries((await item.indexManifest()).manifests)) {
    if (isIndexMediaType(d.mediaType)) {
      if (depth < LIMITS.indexDepth) out.push(...(await imageEntries(await item.imageIndex(d.digest), depth + 1)));
    } else if (isManifestMediaType(d.mediaType)) {
      out.push({ platform: d.platform, descriptor: d, open: () => item.image(d.digest) });
    }
  }
  return out;
}

export interface SelectOptions {
  /** The platform asked for. */
  platform?: Platform;
  /**
   * Without a platform: "host" (default) takes this host's image, else the only one; "only"
   * takes the only image and nothing else.
   */
  otherwise?: "host" | "only";
  /** What the source is called in the default error. */
  name?: string;
  /** The error when nothing fits; `wanted` is undefined when "only" found zero or several. */
  missing?: (wanted: Platform | undefined, available: ImageEntry[]) => Error;
}

/** `name has no image for linux/riscv64; available: linux/amd64, linux/arm64`. */
function defaultMissing(name: string): (wanted: Platform | undefined, available: ImageEntry[]) => Error {
  return (wanted, available) => {
    const list = available.length ? available.map((e) => (e.platform ? formatPlatform(e.platform) : e.descriptor.digest)).join(", ") : "none";
    return new AotpackError(`${name} has no ${wanted ? `image for ${formatPlatform(wanted)}` : "single image"}; available: ${list}`);
  };
}

export async function selectImage(item: Image | ImageIndex, options: SelectOptions = {}): Promise<{ image: Image; platform: Platform | undefined }> {
  const entries = await imageEntries(item);
  const only = entries.length === 1 ? entries[0] : undefined;
  const matching = (p: Platform): ImageEntry | undefined => entries.find((e) => e.platform && platformEquals(e.platform, p));
  let hit: ImageEntry | undefined;
  let wanted: Platform | undefined = options.platform;
  if (options.platform) hit = matching(options.platform);
  else if (options.otherwise === "only") hit = only;
  else {
    wanted = hostPlatform();
    hit = matching(wanted) ?? only;
  }
  if (!hit) throw (options.missing ?? defaultMissing(options.name ?? "the image"))(wanted, entries);
  return { image: await hit.open(), platform: hit.platform };
}
