/**
 * The one transport registry: each scheme (skopeo's transport names) has one entry that
 * parses its spec, opens it as a source, makes its publisher (sink) and checks it before any
 * work starts. Output specs, IMAGE arguments, the help lines and `aotpack help --json` are all
 * derived from TRANSPORTS; adding a sink or a source is one entry here.
 */
import { readdir, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { UsageError, errorMessage } from "../errors.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { nameProblem, splitTag, TAG_RULE, tagProblem } from "../oci/names.ts";
import type { Platform } from "../oci/platform.ts";
import type { Publisher } from "../publish/types.ts";

export type Scheme = "oci" | "oci-archive" | "docker-archive" | "registry";

/** A parsed `scheme:rest` spec (an output, or an IMAGE argument). */
export interface TransportSpec {
  kind: Scheme;
  /** Path for files and layouts; the reference for registry. */
  target: string;
  tag?: string;
  /** docker-archive only: the image name for RepoTags, from skopeo's `FILE:name:tag`. */
  name?: string;
  raw: string;
}

export interface SourceOptions {
  insecureRegistries?: string[];
  /** Told of long registry waits, narrowed scopes, skipped referrers (the registry client's onWarning). */
  onWarning?: (message: string) => void;
}

export interface PreflightOptions {
  /** --force: an archive output may replace a file that is not an image archive. */
  force?: boolean;
}

export interface SinkOptions extends PreflightOptions {
  /** docker-archive: the platform to keep when the index has several. */
  platform?: Platform;
  insecureRegistries?: string[];
}

export interface Transport {
  scheme: Scheme;
  /** The spec's syntax after the scheme, for help: `DIR[:tag]`. */
  syntax: string;
  /** What it is, for help and --json. */
  summary: string;
  /** `rest` is what follows `scheme:`, never empty. */
  parse(rest: string, raw: string): TransportSpec;
  /** Read it back (a source); absent when the scheme is write-only. */
  open?(spec: TransportSpec, options: SourceOptions): Promise<Image | ImageIndex>;
  /** The referrer manifests of a digest (registry: OCI 1.1 API, else the referrers tag); absent where there are none. */
  referrers?(spec: TransportSpec, options: SourceOptions): (subject: Digest) => Promise<Image[]>;
  /** Write to it (a sink). */
  publisher(spec: TransportSpec, options: SinkOptions): Promise<Publisher>;
  /** Refuse, before any time is spent, a sink that would clobber something (the publisher checks again). */
  preflight(spec: TransportSpec, options: PreflightOptions): Promise<void>;
}

/** The tag of an output: a tag, or a usage error that names the rule. */
function checkedTag(tag: string, raw: string): string {
  const problem = tagProblem(tag);
  if (problem) throw new UsageError(`${problem} in output "${raw}": ${TAG_RULE}`, { hint: 'a path that holds ":" is followed by its tag: oci:out/a:b:latest' });
  return tag;
}

function nonEmpty(target: string, raw: string): string {
  if (target === "") throw new UsageError(`invalid output "${raw}": missing path before the tag`);
  return target;
}

/** `PATH[:tag]`: the part after the last ":" is the tag (splitTag), checked. */
function pathSpec(kind: Scheme, rest: string, raw: string): TransportSpec {
  const { head, tag } = splitTag(rest);
  return tag === undefined ? { kind, target: rest, raw } : { kind, tag: checkedTag(tag, raw), target: nonEmpty(head, raw), raw };
}

async function openLayoutSpec(spec: TransportSpec): Promise<Image | ImageIndex> {
  const { readLayout } = await import("../oci/layout-source.ts");
  return (await readLayout(spec.target)).resolve(spec.tag);
}

/**
 * An archive output replaces an image archive (for oci-archive: an OCI one, which it adds to); any other
 * file at the path only with --force. The publisher checks again when it writes.
 */
function preflightArchive(replaces: readonly ("docker" | "oci")[], what: string): Transport["preflight"] {
  return async (spec, options) => {
    const { archiveTarget } = await import("../publish/tar-file.ts");
    let found;
    try {
      found = await archiveTarget(resolve(spec.target), replaces, options.force, what);
    } catch (err) {
      throw new UsageError(`output ${spec.raw}: ${errorMessage(err).replace(/^output path /, "")}`);
    }
    if (found.state === "refused") throw new UsageError(`output ${spec.raw}: ${found.problem}`);
  };
}

async function preflightLayoutDir(spec: TransportSpec): Promise<void> {
  const st = await stat(spec.target).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) throw new UsageError(`output ${spec.raw}: ${spec.target} exists and is not a directory`);
  const entries = await readdir(spec.target);
  if (entries.length && !entries.includes("oci-layout")) {
    throw new UsageError(`output ${spec.raw}: ${spec.target} exists and is not an OCI layout; choose another path or remove it`);
  }
}

/** oci and oci-archive: one reader (readLayout) and one PATH[:tag] grammar; they differ in their sink and preflight. */
function layoutTransport(scheme: Scheme, syntax: string, summary: string, sink: (path: string, options: SinkOptions) => Promise<Publisher>, preflight: Transport["preflight"]): Transport {
  return { scheme, syntax, summary, parse: (rest, raw) => pathSpec(scheme, rest, raw), open: openLayoutSpec, publisher: (spec, options) => sink(resolve(spec.target), options), preflight };
}

export const TRANSPORTS: readonly Transport[] = [
  layoutTransport("oci", "DIR[:tag]", "an OCI image layout directory", async (path) => (await import("../publish/layout.ts")).layoutPublisher(path), preflightLayoutDir),
  layoutTransport(
    "oci-archive",
    "FILE[:tag]",
    "an OCI image layout as one tar file",
    async (path, options) => (await import("../publish/oci-archive.ts")).ociArchivePublisher(path, options.force ? { force: true } : {}),
    preflightArchive(["oci"], "an OCI archive"),
  ),
  {
    scheme: "docker-archive",
    syntax: "FILE[:[name:]tag]",
    summary: "the `docker save` format that `docker load` reads (one platform)",
    parse(rest, raw) {
      // FILE[:[name:]tag]: the tag after the last ":", then a name after the one before it (skopeo's FILE:name:tag).
      const spec = pathSpec("docker-archive", rest, raw);
      if (spec.tag === undefined) return spec;
      const { head: target, tag: name } = splitTag(spec.target);
      if (name === undefined) return spec;
      const problem = nameProblem(name);
      if (problem) throw new UsageError(`${problem} in output "${raw}"`, { hint: 'a docker-archive path that holds ":" is followed by name and tag: docker-archive:a:b.tar:app:latest' });
      return { kind: "docker-archive", target: nonEmpty(target, raw), name, tag: spec.tag, raw };
    },
    // skopeo's docker-archive:FILE[:name:tag]; a bare tag matches the one RepoTag that ends with it.
    open: async (spec) =>
      (await import("../oci/docker-archive-source.ts")).readDockerArchive(spec.target, spec.name !== undefined ? `${spec.name}:${spec.tag}` : spec.tag),
    publisher: async (spec, options) =>
      (await import("../publish/docker-archive.ts")).dockerArchivePublisher(resolve(spec.target), { ...(options.platform ? { platform: options.platform } : {}), ...(options.force ? { force: true } : {}) }),
    preflight: preflightArchive(["docker", "oci"], "a docker archive"),
  },
  {
    scheme: "registry",
    syntax: "REF",
    summary: "an image reference in a registry ([registry/]repository[:tag][@digest])",
    parse: (rest, raw) => ({ kind: "registry", target: rest, raw }),
    open: async (spec, options) => (await import("../registry/index.ts")).remoteIndexOrImage(spec.target, options),
    referrers(spec, options) {
      let lookup: Promise<(subject: Digest) => Promise<Image[]>> | undefined;
      return async (subject) => (await (lookup ??= import("../registry/referrers.ts").then((m) => m.remoteReferrers(spec.target, options))))(subject);
    },
    publisher: async (spec, options) =>
      (await import("../registry/index.ts")).registryPublisher(spec.target, options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
    async preflight(spec) {
      (await import("../registry/index.ts")).parseReference(spec.target); // a bad reference is a usage error
    },
  },
];

export function transportFor(scheme: string): Transport | undefined {
  return TRANSPORTS.find((t) => t.scheme === scheme);
}

/** `oci:DIR[:tag]`, … for the schemes that are sinks (every one) or sources (those that can be read). */
export function specSyntax(role: "sink" | "source"): string[] {
  return TRANSPORTS.filter((t) => role === "sink" || t.open).map((t) => `${t.scheme}:${t.syntax}`);
}

/** For `aotpack help --json`: each scheme, its syntax, and whether it can be read and written. */
export function transportsJson(): { scheme: Scheme; syntax: string; summary: string; source: boolean; sink: boolean }[] {
  return TRANSPORTS.map((t) => ({ scheme: t.scheme, syntax: `${t.scheme}:${t.syntax}`, summary: t.summary, source: t.open !== undefined, sink: true }));
}

/** `oci:dist/app:latest` → {kind: oci, target: dist/app, tag: latest}. */
export function parseSpec(raw: string): TransportSpec {
  const colon = raw.indexOf(":");
  const transport = colon > 0 ? transportFor(raw.slice(0, colon)) : undefined;
  if (!transport) throw new UsageError(`invalid output "${raw}": expected one of ${specSyntax("sink").join(", ")}`);
  const rest = raw.slice(colon + 1);
  if (rest === "") throw new UsageError(`invalid output "${raw}": missing path or reference after "${transport.scheme}:"`);
  return transport.parse(rest, raw);
}

export interface OpenedSource {
  item: Image | ImageIndex;
  /** What the user named, for messages. */
  name: string;
  /** Registry sources: the referrer manifests of a digest, for attestations no index lists. */
  referrers?: (subject: Digest) => Promise<Image[]>;
}

/**
 * Open an IMAGE argument: `scheme:rest` for a readable scheme, else a bare path (a directory is
 * a layout, a file an oci-archive) or a registry reference.
 */
export async function openSource(spec: string, options: SourceOptions = {}): Promise<OpenedSource> {
  const colon = spec.indexOf(":");
  let transport = colon > 0 ? transportFor(spec.slice(0, colon)) : undefined;
  let rest = transport ? spec.slice(colon + 1) : spec;
  if (transport && !transport.open) {
    throw new UsageError(`reading ${transport.scheme} is not supported: use ${specSyntax("source").join(", ")}`);
  }
  if (!transport) {
    const st = await stat(spec).catch(() => undefined);
    transport = transportFor(st?.isDirectory() ? "oci" : st?.isFile() ? "oci-archive" : "registry")!;
    rest = spec;
  }
  // An IMAGE's tag names what to read, whatever a layout holds: it is not checked as an output's is.
  const split = splitTag(rest);
  const parsed: TransportSpec =
    transport.scheme === "registry" || transport.scheme === "docker-archive" ? transport.parse(rest, spec) : { kind: transport.scheme, target: split.tag === undefined ? rest : split.head, ...(split.tag !== undefined ? { tag: split.tag } : {}), raw: spec };
  const referrers = transport.referrers?.(parsed, options);
  return { item: await transport.open!(parsed, options), name: spec, ...(referrers ? { referrers } : {}) };
}
