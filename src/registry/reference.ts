import { UsageError } from "../errors.ts";
import type { Digest } from "../oci/digest.ts";
import { NAME_COMPONENT, TAG } from "../oci/names.ts";

/** A parsed image reference: `registry/repository[:tag][@digest]`, defaults applied. */
export interface Reference {
  /** As the user names it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** Full repository path, `library/` added for Docker Hub official images. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
  /** Canonical form: `registry/repository[:tag][@digest]`. */
  toString(): string;
}

export const DOCKER_HUB = "docker.io";
/** Docker Hub's API lives on another host than its name. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";

// Grammar after distribution/reference (reference.go).
const DOMAIN_LABEL = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME = 255;

function bad(input: string, why: string): UsageError {
  return new UsageError(`invalid image reference "${input}": ${why}`, {
    hint: "expected [registry/]repository[:tag][@sha256:digest], e.g. 127.0.0.1:5000/app:1.0",
  });
}

/** True when the first path part names a registry rather than a repository component. */
function looksLikeRegistry(part: string): boolean {
  return part.includes(".") || part.includes(":") || part === "localhost" || part.startsWith("[") || part !== part.toLowerCase();
}

export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === "") throw bad(input, "empty");
  if (/\s/.test(s)) throw bad(input, "contains whitespace");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw bad(input, "leave out the scheme (http:// or https://)");

  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!DIGEST.test(d)) throw bad(input, `digest "${d}" is not sha256:<64 lowercase hex>`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }

  // A tag is after the last ":" that comes after the last "/" (a port's ":" is before it).
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(input, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }

  const parts = rest.split("/");
  let registry = DOCKER_HUB;
  if (parts.length > 1 && looksLikeRegistry(parts[0]!)) {
    registry = parts.shift()!;
    if (!DOMAIN.test(registry)) throw bad(input, `registry "${registry}" is not a host[:port]`);
  }
  if (registry === "index.docker.io" || registry === DOCKER_HUB_API_HOST) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p === "")) throw bad(input, "empty repository path component");
  for (const p of parts) {
    if (p !== p.toLowerCase()) throw bad(input, `repository "${parts.join("/")}" must be lowercase`);
    if (!NAME_COMPONENT.test(p)) throw bad(input, `repository component "${p}" has invalid characters`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (repository.length > MAX_NAME) throw bad(input, `repository name longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = "latest";
  return makeReference(registry, repository, tag, digest);
}

export function makeReference(registry: string, repository: string, tag?: string, digest?: Digest): Reference {
  const text = `${registry}/${repository}${tag !== undefined ? `:${tag}` : ""}${digest !== undefined ? `@${digest}` : ""}`;
  const ref: Reference = {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
    toString: () => text,
  };
  return ref;
}

/** Host[:port] that serves the HTTP API for a registry name. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** Loopback registries speak plain HTTP (as docker and skopeo assume for localhost). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostOf(registry);
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host part of `host[:port]` / `[v6]:port`, without brackets. */
export function hostOf(registry: string): string {
  if (registry.startsWith("[")) return registry.slice(1, registry.indexOf("]"));
  const i = registry.lastIndexOf(":");
  return i >= 0 ? registry.slice(0, i) : registry;
}
