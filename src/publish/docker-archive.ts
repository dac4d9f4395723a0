/**
 * docker-archive sink: the `docker save` format that `docker load` reads
 * (manifest.json + config + layer blobs). One platform per archive; layers are
 * stored as they are (gzip layers load fine).
 */
import { resolve } from "node:path";
import type { Readable } from "node:stream";
import { AotpackError, UsageError } from "../errors.ts";
import { DigestVerifier, digestHex, type Digest } from "../oci/digest.ts";
import { isImageIndex, type Image, type ImageIndex } from "../oci/interfaces.ts";
import { sourceDateEpoch } from "../oci/layer.ts";
import { NAME_COMPONENT_SOURCE, TAG_SOURCE } from "../oci/names.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import { selectImage } from "../oci/select.ts";
import type { TarEntry } from "../oci/tar.ts";
import { planPublish, progressCounter } from "./blobs.ts";
import { archiveTarget, writeTarAtomic } from "./tar-file.ts";
import type { PublishOptions, PublishResult, Publisher } from "./types.ts";

const DOCKER_REF = new RegExp(
  `^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?${NAME_COMPONENT_SOURCE}(?:/${NAME_COMPONENT_SOURCE})*(?::${TAG_SOURCE})?$`,
);

/** "app" → "app:latest"; refuses what docker would refuse. */
export function dockerRepoTag(tag: string): string {
  if (!DOCKER_REF.test(tag)) {
    throw new UsageError(`invalid docker tag "${tag}": expected name[:tag] with a lowercase name, e.g. myapp:1.0`);
  }
  const lastSlash = tag.lastIndexOf("/");
  return tag.slice(lastSlash + 1).includes(":") ? tag : `${tag}:latest`;
}

/** The one image a docker-archive will hold. */
export async function chooseImage(item: Image | ImageIndex, platform: Platform | undefined): Promise<Image> {
  const chosen = await selectImage(item, {
    ...(platform ? { platform } : {}),
    otherwise: "only",
    missing: (wanted, images) => {
      if (!isImageIndex(item)) return new UsageError(`the image is ${formatPlatform(images[0]!.platform!)}, not the requested ${formatPlatform(wanted!)}`);
      const names = images.map((i) => (i.platform ? formatPlatform(i.platform) : i.descriptor.digest)).join(", ");
      if (wanted) return new UsageError(`no ${formatPlatform(wanted)} image in the index (it has: ${names || "none"})`);
      if (images.length === 0) return new UsageError("the index holds no images");
      return new UsageError(`a docker-archive holds one platform but the index has ${images.length} (${names}); choose one with --platform`);
    },
  });
  return chosen.image;
}

export function dockerArchivePublisher(file: string, options: { platform?: Platform; force?: boolean } = {}): Publisher {
  const target = resolve(file);
  return {
    kind: "docker-archive",
    async publish(item: Image | ImageIndex, publishOptions: PublishOptions = {}): Promise<PublishResult> {
      const repoTag = publishOptions.tag !== undefined ? dockerRepoTag(publishOptions.tag) : undefined;
      // Either kind of image archive is replaced, as docker save does; any other file only when forced.
      const existing = await archiveTarget(target, ["docker", "oci"], options.force, "a docker archive");
      if (existing.state === "refused") throw new AotpackError(`output path ${existing.problem}`);
      const image = await chooseImage(item, options.platform);
      const plan = await planPublish(image);
      const manifest = await image.manifest();
      const mtime = sourceDateEpoch();
      const path = (d: Digest): string => `blobs/sha256/${digestHex(d)}`;
      const entries: TarEntry[] = [
        { header: { name: "blobs", type: "directory", size: 0, mode: 0o755, uid: 0, gid: 0, mtime } },
        { header: { name: "blobs/sha256", type: "directory", size: 0, mode: 0o755, uid: 0, gid: 0, mtime } },
      ];
      const onProgress = publishOptions.onProgress;
      for (const blob of plan.blobs) {
        if (blob.kind === "manifest") continue; // docker-archive has no manifests, only manifest.json
        entries.push({
          header: { name: path(blob.digest), type: "file", size: blob.size, mode: 0o644, uid: 0, gid: 0, mtime },
          body: async () => {
            const source: Readable = await blob.open();
            const verifier = new DigestVerifier(blob.digest, blob.size, `${blob.kind} ${blob.digest}`);
            const counter = progressCounter(blob.digest, blob.size, onProgress);
            source.on("error", (err) => verifier.destroy(err));
            verifier.on("error", (err) => counter.destroy(err));
            return source.pipe(verifier).pipe(counter);
          },
        });
      }
      const manifestJson = Buffer.from(
        JSON.stringify([
          {
            Config: path(manifest.config.digest),
            RepoTags: repoTag ? [repoTag] : null,
            Layers: manifest.layers.map((l) => path(l.digest)),
          },
        ]),
      );
      entries.push({
        header: { name: "manifest.json", type: "file", size: manifestJson.length, mode: 0o644, uid: 0, gid: 0, mtime },
        body: manifestJson,
      });
      await writeTarAtomic(target, entries);
      return {
        reference: `docker-archive:${target}${repoTag ? `:${repoTag}` : ""}`,
        digest: plan.root.digest,
        mediaType: plan.root.mediaType,
        size: plan.root.size,
      };
    },
  };
}
