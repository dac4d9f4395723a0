/**
 * Output specs (every scheme of the transport registry, src/transports: `oci:DIR[:tag]`, `docker-archive:FILE[:tag]`,
 * `docker-archive:FILE:name:tag`, `registry:REF`) parsed once into publishers. Several outputs may be given in one run.
 */
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { isImageIndex } from "../oci/interfaces.ts";
import { formatPlatform, platformEquals, type Platform } from "../oci/platform.ts";
import { imageEntries } from "../oci/select.ts";
import type { ProgressEvent, Publisher, PublishResult } from "../publish/index.ts";
import { parseSpec, transportFor, type Scheme, type TransportSpec } from "../transports/index.ts";

export type OutputKind = Scheme;
/** An output spec: what the transport registry parses (one grammar for every scheme). */
export type OutputSpec = TransportSpec;

/** `oci:dist/app:latest` → {kind: oci, target: dist/app, tag: latest}. The part after the last `:` is the tag (names.ts splitTag). */
export function parseOutputSpec(raw: string): OutputSpec {
  return parseSpec(raw);
}

export interface PublishContext {
  /** Default tag when the spec names none (from --tag). */
  tag?: string;
  /** Image name for docker-archive's RepoTags (`name:tag`), e.g. the app name. */
  imageName?: string;
  /** The platform for docker-archive when the index has several. */
  platform?: Platform;
  insecureRegistries?: string[];
  /** --force: an archive output may replace a file that is not an image archive. */
  force?: boolean;
  onProgress?: (spec: OutputSpec, e: ProgressEvent) => void;
}

async function publisherFor(spec: OutputSpec, ctx: PublishContext): Promise<Publisher> {
  return transportFor(spec.kind)!.publisher(spec, {
    ...(ctx.platform ? { platform: ctx.platform } : {}),
    ...(ctx.insecureRegistries ? { insecureRegistries: ctx.insecureRegistries } : {}),
    ...(ctx.force ? { force: true } : {}),
  });
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
    // Loaded here, not at start-up: the SBOM reader pulls in the layer and compression code.
    if (spec.kind === "docker-archive") await (await import("../sbom/read.ts")).writeSbomBeside(item, result.digest, resolve(spec.target));
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
export async function preflightOutputs(outputs: OutputSpec[], options: { force?: boolean } = {}): Promise<void> {
  for (const o of outputs) await transportFor(o.kind)!.preflight(o, options);
}
