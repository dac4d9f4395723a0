/**
 * Open an image or index from a user's spec: `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
 * `registry:REF`, a bare registry reference, or a bare path to a layout directory.
 * The sources share one model, so inspect/verify/run don't care where bytes come from.
 */
import { stat } from "node:fs/promises";
import { UsageError } from "./errors.ts";
import type { Digest } from "./oci/digest.ts";
import type { Image, ImageIndex } from "./oci/interfaces.ts";
import { readLayout } from "./oci/layout-source.ts";

export interface OpenedSource {
  item: Image | ImageIndex;
  /** What the user named, for messages. */
  name: string;
  /** Registry sources: the referrer manifests of a digest (OCI 1.1 API, else the referrers tag). */
  referrers?: (subject: Digest) => Promise<Image[]>;
}

function splitTag(rest: string): { path: string; tag?: string } {
  const i = rest.lastIndexOf(":");
  if (i > 0 && !rest.slice(i + 1).includes("/")) return { path: rest.slice(0, i), tag: rest.slice(i + 1) };
  return { path: rest };
}

export async function openSource(spec: string, options: { insecureRegistries?: string[] } = {}): Promise<OpenedSource> {
  let kind: "oci" | "oci-archive" | "registry" | undefined;
  let rest = spec;
  for (const k of ["oci-archive", "oci", "registry"] as const) {
    if (spec.startsWith(`${k}:`)) {
      kind = k;
      rest = spec.slice(k.length + 1);
      break;
    }
  }
  if (spec.startsWith("docker-archive:")) {
    throw new UsageError(`reading docker-archive is not supported: use oci:DIR, oci-archive:FILE or a registry reference`);
  }
  if (!kind) {
    const st = await stat(spec).catch(() => undefined);
    kind = st?.isDirectory() ? "oci" : st?.isFile() ? "oci-archive" : "registry";
  }
  if (kind === "registry") {
    const { remoteIndexOrImage } = await import("./registry/index.ts");
    const { remoteReferrers } = await import("./registry/referrers.ts");
    return { item: await remoteIndexOrImage(rest, options), name: spec, referrers: remoteReferrers(rest, options) };
  }
  const { path, tag } = splitTag(rest);
  const layout = await readLayout(path);
  return { item: await layout.resolve(tag), name: spec };
}
