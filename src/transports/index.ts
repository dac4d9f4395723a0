/**
 * The one transport registry: each scheme (skopeo's transport names) has one entry that
 * parses its spec, opens it as a source, makes its publisher (sink) and checks it before any
 * work starts. Output specs, IMAGE arguments, the help lines and `aotpack help --json` are all
 * derived from TRANSPORTS; adding a sink or a source is one entry here.
 */
import { open as openFile, readdir, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image, ImageIndex } from "../oci/interfaces.ts";
import { REPOSITORY_PATH, TAG } from "../oci/names.ts";
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

export interface SinkOptions {
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
  preflight(spec: TransportSpec): Promise<void>;
}

/** `PATH[:tag]`: a tag is the part after the last `:` that has no `/`. */
function splitTag(rest: string): { target: string; tag?: string } {
  const i = rest.lastIndexOf(":");
  if (i > 0 && !rest.slice(i + 1).includes("/")) return { target: rest.slice(0, i), tag: rest.slice(i + 1) };
  return { target: rest };
}

function checkedTag(tag: string, raw: string): string {
  if (!TAG.test(tag)) throw new UsageError(`invalid tag "${tag}" in output "${raw}"`);
  return tag;
}

function pathSpec(kind: Scheme, rest: string, raw: string): TransportSpec {
  const { target, tag } = splitTag(rest);
  return tag === undefined ? { kind, target, raw } : { kind, target, tag: checkedTag(tag, raw), raw };
}

async function openLayoutSpec(spec: TransportSpec): Promise<Image | ImageIndex> {
  const { readLayout } = await import("../oci/layout-source.ts");
  return (await readLayout(spec.target)).resolve(spec.tag);
}

async function isTar(path: string): Promise<boolean> {
  const fh = await openFile(path, "r");
  try {
    const header = Buffer.alloc(512);
    await fh.read(header, 0, 512, 0);
    return header.subarray(257, 262).toString() === "ustar";
  } finally {
    await fh.close();
  }
}

/** An archive output is replaced when asked for again, but a file that is not a tar is probably a typo. */
async function preflightArchive(spec: TransportSpec): Promise<void> {
  const st = await stat(spec.target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) throw new UsageError(`output ${spec.raw}: ${spec.target} is a directory`);
  if (!(await isTar(spec.target))) throw new UsageError(`output ${spec.raw}: ${spec.target} exists and is not a tar archive; choose another path`);
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
function layoutTransport(scheme: Scheme, syntax: string, summary: string, sink: (path: string) => Promise<Publisher>, preflight: Transport["preflight"]): Transport {
  return { scheme, syntax, summary, parse: (rest, raw) => pathSpec(scheme, rest, raw), open: openLayoutSpec, publisher: (spec) => sink(resolve(spec.target)), preflight };
}

export const TRANSPORTS: readonly Transport[] = [
  layoutTransport("oci", "DIR[:tag]", "an OCI image layout directory", async (path) => (await import("../publish/layout.ts")).layoutPublisher(path), preflightLayoutDir),
  layoutTransport(
    "oci-archive",
    "FILE[:tag]",
    "an OCI image layout as one tar file",
    async (path) => (await import("../publish/oci-archive.ts")).ociArchivePublisher(path),
    preflightArchive,
  ),
  {
    scheme: "docker-archive",
    syntax: "FILE[:[name:]tag]",
    summary: "the `docker save` format that `docker load` reads (one platform)",
    parse(rest, raw) {
      // skopeo's docker-archive:FILE:name:tag: the first colon ends the file (a name has no colon).
      const named = /^([^:]+):([^:]+):([^:/]+)$/.exec(rest);
      if (!named) return pathSpec("docker-archive", rest, raw);
      const [, target, name, tag] = named as unknown as [string, string, string, string];
      if (!REPOSITORY_PATH.test(name)) throw new UsageError(`invalid image name "${name}" in output "${raw}": expected lowercase name[/path]`);
      return { kind: "docker-archive", target, name, tag: checkedTag(tag, raw), raw };
    },
    // skopeo's docker-archive:FILE[:name:tag]; a bare tag matches the one RepoTag that ends with it.
    open: async (spec) =>
      (await import("../oci/docker-archive-source.ts")).readDockerArchive(spec.target, spec.name !== undefined ? `${spec.name}:${spec.tag}` : spec.tag),
    publisher: async (spec, options) =>
      (await import("../publish/docker-archive.ts")).dockerArchivePublisher(resolve(spec.target), options.platform ? { platform: options.platform } : {}),
    preflight: preflightArchive,
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
  const parsed = transport.scheme === "registry" || transport.scheme === "docker-archive" ? transport.parse(rest, spec) : { kind: transport.scheme, ...splitTag(rest), raw: spec };
  const referrers = transport.referrers?.(parsed, options);
  return { item: await transport.open!(parsed, options), name: spec, ...(referrers ? { referrers } : {}) };
}
