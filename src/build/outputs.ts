/**
 * Output specs (`oci:DIR[:tag]`, `oci-archive:FILE[:tag]`, `docker-archive:FILE[:tag]`,
 * `docker-archive:FILE:name:tag`, `registry:REF`) parsed once into publishers. Several outputs may be given in one run.
 */
import { open, readdir, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { writeSbomBeside } from "../sbom/read.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { isImageIndex } from "../oci/interfaces.ts";
import { formatPlatform, platformEquals, type Platform } from "../oci/platform.ts";
import { imageEntries } from "../oci/select.ts";
import type { ProgressEvent, Publisher, PublishResult } from "../publish/index.ts";

export type OutputKind = "oci" | "oci-archive" | "docker-archive" | "registry";

export interface OutputSpec {
  kind: OutputKind;
  /** Path for files and layouts; the reference for registry. */
  target: string;
  tag?: string;
  /** docker-archive only: the image name for RepoTags, from skopeo's `FILE:name:tag`. */
  name?: string;
  raw: string;
}

/** A Docker/OCI tag. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

const KINDS: OutputKind[] = ["oci", "oci-archive", "docker-archive", "registry"];

/** `oci:dist/app:latest` → {kind: oci, target: dist/app, tag: latest}. A tag is the part after the last `:` that has no `/`. */
export function parseOutputSpec(raw: string): OutputSpec {
  const colon = raw.indexOf(":");
  const kind = colon > 0 ? (raw.slice(0, colon) as OutputKind) : undefined;
  if (!kind || !KINDS.includes(kind)) {
    throw new UsageError(`invalid output "${raw}": expected one of oci:DIR[:tag], oci-archive:FILE[:tag], docker-archive:FILE[:[name:]tag], registry:REF`);
  }
  const rest = raw.slice(colon + 1);
  if (rest === "") throw new UsageError(`invalid output "${raw}": missing path or reference after "${kind}:"`);
  if (kind === "registry") return { kind, target: rest, raw };
  // skopeo's docker-archive:FILE:name:tag: the first colon ends the file (a name has no colon).
  const named = kind === "docker-archive" ? /^([^:]+):([^:]+):([^:/]+)$/.exec(rest) : null;
  if (named) {
    const [, target, name, tag] = named as unknown as [string, string, string, string];
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(name)) throw new UsageError(`invalid image name "${name}" in output "${raw}": expected lowercase name[/path]`);
    if (!TAG.test(tag)) throw new UsageError(`invalid tag "${tag}" in output "${raw}"`);
    return { kind, target, name, tag, raw };
  }
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > 0 && !rest.slice(lastColon + 1).includes("/")) {
    const tag = rest.slice(lastColon + 1);
    if (!TAG.test(tag)) throw new UsageError(`invalid tag "${tag}" in output "${raw}"`);
    return { kind, target: rest.slice(0, lastColon), tag, raw };
  }
  return { kind, target: rest, raw };
}

export interface PublishContext {
  /** Default tag when the spec names none (from --tag). */
  tag?: string;
  /** Image name for docker-archive's RepoTags (`name:tag`), e.g. the app name. */
  imageName?: string;
  /** The platform for docker-archive when the index has several. */
  platform?: Platform;
  insecureRegistries?: string[];
  onProgress?: (spec: OutputSpec, e: ProgressEvent) => void;
}

async function publisherFor(spec: OutputSpec, ctx: PublishContext): Promise<Publisher> {
  const { dockerArchivePublisher, layoutPublisher, ociArchivePublisher } = await import("../publish/index.ts");
  switch (spec.kind) {
    case "oci":
      return layoutPublisher(resolve(spec.target));
    case "oci-archive":
      return ociArchivePublisher(resolve(spec.target));
    case "docker-archive":
      return dockerArchivePublisher(resolve(spec.target), ctx.platform ? { platform: ctx.platform } : {});
    case "registry": {
      const { registryPublisher } = await import("../registry/index.ts");
      return registryPublisher(spec.target, ctx.insecureRegistries ? { insecureRegistries: ctx.insecureRegistries } : {});
    }
  }
}

/** Check what can be checked before any work starts: a docker-archive of an index needs one platform. */
export function checkOutputs(specs: OutputSpec[], platforms: Platform[], chosen?: Platform): void {
  for (const s of specs) {
    if (s.kind !== "docker-archive") continue;
    if (chosen && !platforms.some((p) => platformEquals(p, chosen))) {
      throw new UsageError(`docker-archive platform ${formatPlatform(chosen)} is not among the built platforms (${platforms.map(formatPlatform).join(", ")})`);
    }
    if (!chosen && platforms.length > 1) {
      throw new UsageError(
        `docker-archive holds one platform, and ${platforms.length} are built (${platforms.map(formatPlatform).join(", ")}): choose one with --docker-platform`,
      );
    }
  }
}

export async function publishAll(
  item: Image | ImageIndex,
  specs: OutputSpec[],
  ctx: PublishContext,
): Promise<{ spec: OutputSpec; result: PublishResult }[]> {
  const results: { spec: OutputSpec; result: PublishResult }[] = [];
  for (const spec of specs) {
    const publisher = await publisherFor(spec, ctx);
    // A registry reference carries its own tag or digest; --tag only fills in when it has neither.
    const tag = spec.kind === "registry" ? (await registryRefHasTag(spec.target) ? undefined : ctx.tag) : (spec.tag ?? ctx.tag);
    const opts: { tag?: string; onProgress?: (e: ProgressEvent) => void } = {};
    const name = spec.name ?? ctx.imageName;
    if (tag) opts.tag = spec.kind === "docker-archive" && name ? `${name}:${tag}` : tag;
    const report = ctx.onProgress;
    if (report) opts.onProgress = (e) => report(spec, e);
    // A docker-archive of a one-platform index takes the image itself.
    let target: Image | ImageIndex = item;
    if (spec.kind === "docker-archive" && isImageIndex(item)) {
      const entries = await imageEntries(item);
      if (entries.length === 1) target = await entries[0]!.open();
    }
    const result = await publisher.publish(target, opts);
    if (spec.kind === "docker-archive") await writeSbomBeside(item, result.digest, resolve(spec.target));
    results.push({ spec, result });
  }
  return results;
}

async function registryRefHasTag(ref: string): Promise<boolean> {
  const { parseReference } = await import("../registry/index.ts");
  const r = parseReference(ref);
  return r.digest !== undefined || /:[^/]+$/.test(ref.replace(/@.*$/, ""));
}

/**
 * Refuse outputs that would clobber something, before any time is spent compiling. (The
 * publishers check again when they write; this only makes the failure early.)
 */
export async function preflightOutputs(outputs: OutputSpec[]): Promise<void> {
  for (const o of outputs) {
    if (o.kind === "registry") {
      const { parseReference } = await import("../registry/index.ts");
      parseReference(o.target); // a bad reference is a usage error
      continue;
    }
    const st = await stat(o.target).catch(() => undefined);
    if (!st) continue;
    if (o.kind === "oci") {
      if (!st.isDirectory()) throw new UsageError(`output ${o.raw}: ${o.target} exists and is not a directory`);
      const entries = await readdir(o.target);
      if (entries.length && !entries.includes("oci-layout")) {
        throw new UsageError(`output ${o.raw}: ${o.target} exists and is not an OCI layout; choose another path or remove it`);
      }
    } else if (st.isDirectory()) {
      throw new UsageError(`output ${o.raw}: ${o.target} is a directory`);
    } else if (!(await isTar(o.target))) {
      // An archive is replaced when the same path is asked for again, but a file that is not a
      // tar is probably a typo, and must not be destroyed.
      throw new UsageError(`output ${o.raw}: ${o.target} exists and is not a tar archive; choose another path`);
    }
  }
}

async function isTar(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const header = Buffer.alloc(512);
    await fh.read(header, 0, 512, 0);
    return header.subarray(257, 262).toString() === "ustar";
  } finally {
    await fh.close();
  }
}
