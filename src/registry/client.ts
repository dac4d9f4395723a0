/**
 * The OCI distribution API for one registry: manifests, blobs, uploads, auth.
 * Every public method is one idempotent step, retried on temporary failures.
 */
import type { IncomingMessage } from "node:http";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { AotpackError } from "../errors.ts";
import { DigestVerifier, isDigest, sha256, type Digest } from "../oci/digest.ts";
import { fsError, pipelineToNewFile, tempPathBeside } from "../oci/fs-util.ts";
import { chain } from "../oci/blob-stream.ts";
import { MediaType } from "../oci/media-types.ts";
import { basicHeader, credentialsFor, mergeScopes, parseChallenge, scopesBeyond, tokenRealm, type Challenge, type Credentials } from "./auth.ts";
import { isTemporaryStatus, parseErrorCodes, parseRetryAfter, RegistryError, safeUrl } from "./errors.ts";
import { closeTransport, DEFAULT_RETRY, drain, header, makeTransport, networkError, readBody, retryWait, send, transportLimits, withRetry, type RetryOptions, type RetryState, type Transport, type TransportLimits } from "./http.ts";
import { apiHost, hostOf, isLoopbackRegistry } from "./reference.ts";

export interface RegistryClientOptions {
  /** Registries (host[:port]) reached over HTTPS without verifying TLS, falling back to HTTP. */
  insecureRegistries?: string[];
  /** Explicit credentials; `null` forces anonymous; undefined reads Docker's config.json. */
  credentials?: Credentials | null;
  /** Environment used to find config.json and credential helpers. */
  env?: NodeJS.ProcessEnv;
  retry?: RetryOptions;
  /** Idle-socket timeout per request, ms. */
  timeoutMs?: number;
  /** Overall deadline of a small answer (manifest, index, token), ms; else AOTPACK_REGISTRY_DEADLINE_MS, else 60 s. */
  deadlineMs?: number;
  /** Blobs and uploads slower than this (bytes/s over `rateWindowMs`) fail; else AOTPACK_REGISTRY_MIN_RATE, else 16 KiB/s. */
  minBytesPerSecond?: number;
  /** Else AOTPACK_REGISTRY_RATE_WINDOW_MS, else 30 s. */
  rateWindowMs?: number;
  /** Things worth telling a user while work goes on: a long Retry-After wait, a skipped referrer, a narrowed scope. */
  onWarning?: (message: string) => void;
  userAgent?: string;
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks. */
  monolithicMaxBytes?: number;
  chunkBytes?: number;
}

/** Every manifest type we read, OCI first. */
export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(", ");
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const ERROR_BODY_LIMIT = 64 * 1024;

export interface FetchedManifest {
  raw: Buffer;
  mediaType: string;
  digest: Digest;
}

export type UploadOutcome = "exists" | "mounted" | "uploaded";

export interface BlobSource {
  digest: Digest;
  size: number;
  /** Opens the blob from its first byte; called again for every retry. */
  open: () => Promise<Readable>;
}

interface Call {
  method: string;
  url: URL;
  repo: string;
  scopes: string[];
  headers?: Record<string, string>;
  body?: () => Buffer | Readable;
  /** A blob or an upload: held to the minimum rate, not the deadline of small answers. */
  bulk?: boolean;
}

/**
 * Per registry, the repositories where a blob was seen (pulled, found, pushed) in this
 * process: shared by all clients so a push can mount what a pull brought in. Bounded.
 */
const BLOB_HOMES = new Map<string, Map<Digest, Set<string>>>();
const MAX_HOMES_PER_REGISTRY = 10_000;

export function noteBlobHome(registry: string, digest: Digest, repo: string): void {
  let byDigest = BLOB_HOMES.get(registry);
  if (!byDigest) BLOB_HOMES.set(registry, (byDigest = new Map()));
  if (byDigest.size >= MAX_HOMES_PER_REGISTRY && !byDigest.has(digest)) byDigest.delete(byDigest.keys().next().value!);
  const homes = byDigest.get(digest) ?? new Set<string>();
  homes.add(repo);
  byDigest.set(digest, homes);
}

/** Small blobs (configs, small layers) go up in one PUT. */
const DEFAULT_MONOLITHIC_MAX = 16 * 1024 * 1024;
/**
 * Big chunks: each PATCH costs the registry a resume, so a 100 MB layer goes in one
 * (skopeo streams a whole blob in one PATCH too). A 413 from a body-size-limited proxy
 * halves the chunk, down to MIN_CHUNK (ECR's minimum part size).
 */
const DEFAULT_CHUNK = 256 * 1024 * 1024;
const MIN_CHUNK = 5 * 1024 * 1024;

export class RegistryClient {
  readonly registry: string;
  readonly #options: RegistryClientOptions;
  readonly #retry: Required<RetryOptions>;
  readonly #transport: Transport;
  #scheme: "http" | "https";
  readonly #insecure: boolean;
  #credentials: Promise<Credentials | undefined> | undefined;
  #challenge: Challenge | undefined;
  /** Bearer tokens by scope set; a promise so parallel requests share one fetch. */
  readonly #tokens = new Map<string, Promise<{ token: string; expiresAt: number }>>();
  readonly #scopeWarnings = new Set<string>();

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.#options = options;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#insecure = (options.insecureRegistries ?? []).some((r) => r === registry || r === hostOf(registry));
    this.#scheme = isLoopbackRegistry(registry) ? "http" : "https";
    const limits: TransportLimits = { ...transportLimits(options.env ?? process.env) };
    if (options.deadlineMs !== undefined) limits.deadlineMs = options.deadlineMs;
    if (options.minBytesPerSecond !== undefined) limits.minBytesPerSecond = options.minBytesPerSecond;
    if (options.rateWindowMs !== undefined) limits.rateWindowMs = options.rateWindowMs;
    this.#transport = makeTransport({ verifyTls: !this.#insecure, timeoutMs: options.timeoutMs, userAgent: options.userAgent, limits });
  }

  close(): void {
    closeTransport(this.#transport);
  }

  url(path: string): URL {
    return new URL(`${this.#scheme}://${apiHost(this.registry)}${path}`);
  }

  /** Remember that `repo` holds `digest`, so pushes to other repositories can mount it. */
  noteBlob(digest: Digest, repo: string): void {
    noteBlobHome(this.registry, digest, repo);
  }

  knownHomes(digest: Digest): string[] {
    return [...(BLOB_HOMES.get(this.registry)?.get(digest) ?? [])];
  }

  /** The one retry loop every step runs in (the transport's), telling the user of long waits. */
  #retrying<T>(step: (attempt: number) => Promise<T>): Promise<T> {
    return withRetry(step, this.#retry, this.#options.onWarning);
  }

  // ---- manifests -------------------------------------------------------------

  async getManifest(repo: string, reference: string): Promise<FetchedManifest> {
    return this.#retrying(async () => {
      const call = this.#manifestCall("GET", repo, reference, ["pull"]);
      const res = await this.#exchange(call);
      if (res.statusCode === 404) throw await this.#notFound(call, res, `manifest ${this.registry}/${repo}${refSuffix(reference)} not found`);
      if (res.statusCode !== 200) throw await this.#statusError(call, res);
      const raw = await readBody(res, MANIFEST_LIMIT, `manifest ${this.registry}/${repo}${refSuffix(reference)}`);
      const digest = sha256(raw);
      if (isDigest(reference) && digest !== reference) {
        throw new RegistryError(`manifest ${this.registry}/${repo}@${reference}: the registry sent content with digest ${digest}`, { method: "GET", url: safeUrl(call.url), status: 200, temporary: false });
      }
      const mediaType = contentType(res) ?? mediaTypeOf(raw);
      return { raw, mediaType, digest };
    });
  }

  /** Descriptor of a manifest by tag or digest, or undefined when it does not exist. */
  async headManifest(repo: string, reference: string): Promise<{ digest: Digest; mediaType: string; size: number } | undefined> {
    return this.#retrying(async () => {
      const call = this.#manifestCall("HEAD", repo, reference, ["pull"]);
      const res = await this.#exchange(call);
      await drain(res);
      if (res.statusCode === 404) return undefined;
      if (res.statusCode !== 200) throw await this.#statusError(call, res);
      const digest = header(res.headers, "docker-content-digest");
      if (digest === undefined || !isDigest(digest)) {
        // Some registries omit the header on HEAD: fall back to a GET.
        const m = await this.getManifest(repo, reference);
        return { digest: m.digest, mediaType: m.mediaType, size: m.raw.length };
      }
      return { digest, mediaType: contentType(res) ?? "", size: Number(header(res.headers, "content-length") ?? 0) };
    });
  }

  async putManifest(repo: string, reference: string, raw: Buffer, mediaType: string): Promise<Digest> {
    return (await this.putManifestAck(repo, reference, raw, mediaType)).digest;
  }

  /**
   * PUT a manifest and say whether the registry processed its `subject`: a registry with the
   * referrers API answers `OCI-Subject: <subject digest>` (distribution-spec 1.1); without it the
   * pusher must maintain the referrers tag itself.
   */
  async putManifestAck(repo: string, reference: string, raw: Buffer, mediaType: string): Promise<{ digest: Digest; ociSubject?: string }> {
    const digest = sha256(raw);
    return this.#retrying(async () => {
      const call: Call = {
        ...this.#manifestCall("PUT", repo, reference, ["pull", "push"]),
        headers: { "Content-Type": mediaType },
        body: () => raw,
      };
      const res = await this.#exchange(call);
      if (res.statusCode !== 201 && res.statusCode !== 200) throw await this.#statusError(call, res);
      await drain(res);
      const got = header(res.headers, "docker-content-digest");
      if (got !== undefined && got !== digest) {
        throw new RegistryError(`PUT ${safeUrl(call.url)}: registry computed digest ${got}, expected ${digest}`, { method: "PUT", url: safeUrl(call.url), status: res.statusCode, temporary: false });
      }
      const ociSubject = header(res.headers, "oci-subject");
      return ociSubject === undefined ? { digest } : { digest, ociSubject };
    });
  }

  /** The referrers API's index for `digest`, or undefined when the registry has no such API (404). */
  async getReferrers(repo: string, digest: Digest): Promise<Buffer | undefined> {
    return this.#retrying(async () => {
      const call: Call = { method: "GET", url: this.url(`/v2/${repo}/referrers/${digest}`), repo, scopes: [`repository:${repo}:pull`], headers: { Accept: MediaType.OciIndex } };
      const res = await this.#exchange(call);
      if (res.statusCode === 404) {
        await drain(res);
        return undefined;
      }
      if (res.statusCode !== 200) throw await this.#statusError(call, res);
      return readBody(res, MANIFEST_LIMIT, `referrers of ${this.registry}/${repo}@${digest}`);
    });
  }

  // ---- blobs -----------------------------------------------------------------

  async blobExists(repo: string, digest: Digest, extraScopes: string[] = []): Promise<boolean> {
    return this.#retrying(async () => {
      const call: Call = { method: "HEAD", url: this.url(`/v2/${repo}/blobs/${digest}`), repo, scopes: mergeScopes([`repository:${repo}:pull`], extraScopes) };
      const res = await this.#followRedirects(call);
      await drain(res);
      if (res.statusCode === 404) return false;
      if (res.statusCode === 200) {
        this.noteBlob(digest, repo);
        return true;
      }
      throw await this.#statusError(call, res);
    });
  }

  /** A stream of the blob, verified against digest (and size) as it flows. */
  async blobStream(repo: string, digest: Digest, size?: number): Promise<Readable> {
    const res = await this.#retrying(async () => {
      const call: Call = { method: "GET", url: this.url(`/v2/${repo}/blobs/${digest}`), repo, scopes: [`repository:${repo}:pull`], bulk: true };
      const r = await this.#followRedirects(call);
      if (r.statusCode === 404) throw await this.#notFound(call, r, `blob ${digest} not found in ${this.registry}/${repo}`);
      if (r.statusCode !== 200) throw await this.#statusError(call, r);
      return r;
    });
    this.noteBlob(digest, repo);
    const url = this.url(`/v2/${repo}/blobs/${digest}`);
    // chain(): a dropped connection surfaces as a temporary RegistryError, and a consumer
    // that stops reading releases the response.
    return chain(res, new DigestVerifier(digest, size, `blob ${digest} from ${this.registry}/${repo}`), (err) => networkError("GET", url, err));
  }

  /** Download a blob to `path` (temp beside it, then rename), verified; retried as a whole. */
  async fetchBlobToFile(repo: string, digest: Digest, size: number | undefined, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true }).catch((err: unknown) => {
      throw fsError(err, "creating", dirname(path));
    });
    await this.#retrying(async () => {
      const tmp = tempPathBeside(path);
      try {
        await pipelineToNewFile(tmp, async () => [await this.blobStream(repo, digest, size)]);
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== undefined && ["ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EMFILE"].includes(code)) throw fsError(err, "writing", path);
        throw asRegistryError(err, "GET", this.url(`/v2/${repo}/blobs/${digest}`));
      }
    });
  }

  /**
   * Make `blob` exist in `repo`: HEAD (skip), else mount from a repository known to
   * hold it, else upload (one PUT when small, PATCH chunks when large). A failed
   * chunk resumes from the offset the registry reports.
   */
  async uploadBlob(repo: string, blob: BlobSource, options: { mountFrom?: string[]; onProgress?: (done: number) => void } = {}): Promise<UploadOutcome> {
    const mountFrom = [...new Set([...(options.mountFrom ?? []), ...this.knownHomes(blob.digest)])].filter((r) => r !== repo);
    const scopes = mergeScopes([`repository:${repo}:pull,push`], mountFrom.map((r) => `repository:${r}:pull`));
    if (await this.blobExists(repo, blob.digest, scopes)) return "exists";

    let location: URL | undefined;
    for (const from of mountFrom) {
      const started = await this.#startUpload(repo, scopes, { digest: blob.digest, from });
      if (started === "mounted") {
        this.noteBlob(blob.digest, repo);
        return "mounted";
      }
      location = started;
      break;
    }

    let monolithicMax = this.#options.monolithicMaxBytes ?? DEFAULT_MONOLITHIC_MAX;
    let chunkBytes = this.#options.chunkBytes ?? DEFAULT_CHUNK;
    let offset = 0;
    let resumed = false;
    let resumeCheck: { sessionLost: boolean } | undefined;
    const waits: RetryState = {};
    // The loop retries only the steps whose bodies cannot be replayed (PATCH, PUT). The idempotent
    // requests it makes (HEAD, POST, GET of the upload status) retry on their own; once one of them
    // has used up its retries, the upload fails: re-running it here would multiply the attempts.
    const idempotent = async <T>(request: () => Promise<T>): Promise<T> => {
      try {
        return await request();
      } catch (err) {
        throw new RetriesUsedUp(err);
      }
    };
    for (let attempt = 0; ; attempt++) {
      try {
        if (resumeCheck) {
          const { sessionLost } = resumeCheck;
          resumeCheck = undefined;
          // The step that failed may have succeeded on the server before the connection dropped.
          if (await idempotent(() => this.blobExists(repo, blob.digest, scopes))) {
            options.onProgress?.(blob.size);
            return "uploaded";
          }
          const resumeFrom = location;
          const resumedAt = resumeFrom && !sessionLost && blob.size > monolithicMax ? await idempotent(() => this.#uploadStatus(repo, scopes, resumeFrom)) : undefined;
          if (resumedAt) {
            location = resumedAt.location;
            offset = resumedAt.offset;
            resumed = true;
            options.onProgress?.(offset);
          } else {
            resumed = false;
            location = undefined;
            offset = 0;
            options.onProgress?.(0);
          }
        }
        if (location === undefined) {
          const started = await idempotent(() => this.#startUpload(repo, scopes));
          if (started === "mounted") throw new Error("unreachable: mount without from");
          location = started;
          offset = 0;
        }
        if (blob.size <= monolithicMax) {
          await this.#putBlob(repo, scopes, location, blob, undefined);
        } else {
          // `session` follows each accepted chunk, so a failure resumes from the latest Location.
          const session = { location, offset };
          try {
            await this.#patchChunks(repo, scopes, session, blob, chunkBytes, options.onProgress);
          } finally {
            location = session.location;
            offset = session.offset;
          }
          await this.#putBlob(repo, scopes, location, blob, Buffer.alloc(0));
        }
        options.onProgress?.(blob.size);
        this.noteBlob(blob.digest, repo);
        return "uploaded";
      } catch (err) {
        if (err instanceof RetriesUsedUp) throw err.error;
        if (!(err instanceof RegistryError) || attempt >= this.#retry.retries) throw err;
        // A session the registry lost or refused to resume (or a resume it got wrong) is started over.
        const sessionLost = err.status === 416 || err.codes.some((c) => c === "BLOB_UPLOAD_UNKNOWN" || c === "BLOB_UPLOAD_INVALID" || (resumed && c === "DIGEST_INVALID"));
        // A proxy in front of the registry limits request bodies: smaller requests, same session.
        const tooLarge = err.status === 413 && (blob.size <= monolithicMax ? blob.size > MIN_CHUNK : chunkBytes > MIN_CHUNK);
        if (tooLarge) {
          if (blob.size <= monolithicMax) {
            monolithicMax = 0;
            chunkBytes = Math.min(chunkBytes, Math.max(MIN_CHUNK, Math.ceil(blob.size / 2)));
          } else chunkBytes = Math.max(MIN_CHUNK, Math.floor(chunkBytes / 2));
        }
        if (!err.temporary && !sessionLost && !tooLarge) throw err;
        await sleep(retryWait(attempt + 1, this.#retry, err, waits, this.#options.onWarning));
        resumeCheck = { sessionLost };
      }
    }
  }

  /** POST an upload session; with `mount`, ask the registry to link the blob from `from`. */
  async #startUpload(repo: string, scopes: string[], mount?: { digest: Digest; from: string }): Promise<URL | "mounted"> {
    return this.#retrying(async () => {
      const url = this.url(`/v2/${repo}/blobs/uploads/`);
      if (mount) {
        url.searchParams.set("mount", mount.digest);
        url.searchParams.set("from", mount.from);
      }
      const call: Call = { method: "POST", url, repo, scopes };
      const res = await this.#exchange(call);
      if (res.statusCode === 201 && mount) {
        await drain(res);
        return "mounted";
      }
      if (res.statusCode !== 202) throw await this.#statusError(call, res);
      await drain(res);
      return this.#location(call, res);
    });
  }

  /** Single attempt: the caller's loop decides whether to resume or restart. */
  async #putBlob(repo: string, scopes: string[], location: URL, blob: BlobSource, body: Buffer | undefined): Promise<void> {
    const url = new URL(location);
    url.searchParams.set("digest", blob.digest);
    let stream: Readable | undefined;
    if (body === undefined) stream = await blob.open();
    const call: Call = {
      method: "PUT",
      url,
      repo,
      scopes,
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(body?.length ?? blob.size) },
      body: () => body ?? stream!,
      bulk: body === undefined,
    };
    try {
      const res = await this.#exchange(call, false);
      if (res.statusCode !== 201) throw await this.#statusError(call, res);
      await drain(res);
    } finally {
      stream?.destroy();
    }
  }

  async #patchChunks(repo: string, scopes: string[], session: { location: URL; offset: number }, blob: BlobSource, chunkBytes: number, onProgress?: (done: number) => void): Promise<void> {
    const source = await blob.open();
    const reader = new ByteReader(source);
    try {
      await reader.skip(session.offset);
      while (session.offset < blob.size) {
        const length = Math.min(chunkBytes, blob.size - session.offset);
        const start = session.offset;
        const loc = session.location;
        const call: Call = {
          method: "PATCH",
          url: loc,
          repo,
          scopes,
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Length": String(length),
            "Content-Range": `${start}-${start + length - 1}`,
          },
          body: () => Readable.from(reader.take(length, (n) => onProgress?.(start + n)), { objectMode: false }),
          bulk: true,
        };
        const res = await this.#exchange(call, false);
        if (res.statusCode !== 202) throw await this.#statusError(call, res);
        await drain(res);
        session.location = this.#location(call, res);
        session.offset = start + length;
      }
    } finally {
      source.destroy();
    }
  }

  /** Where an interrupted upload stands: the next offset from its `Range: 0-N`. Undefined = start over. */
  async #uploadStatus(repo: string, scopes: string[], location: URL): Promise<{ location: URL; offset: number } | undefined> {
    try {
      return await this.#retrying(async () => {
        const call: Call = { method: "GET", url: location, repo, scopes };
        const res = await this.#exchange(call);
        await drain(res);
        if (res.statusCode === 404) return undefined;
        if (res.statusCode !== 204) throw await this.#statusError(call, res);
        // distribution answers "0-0" both for nothing and for one byte received: start over then.
        const range = /^(?:bytes=)?0-(\d+)$/.exec(header(res.headers, "range") ?? "");
        const last = range ? Number(range[1]) : 0;
        if (last === 0) return undefined;
        return { location: this.#location(call, res), offset: last + 1 };
      });
    } catch (err) {
      if (err instanceof RegistryError && !err.temporary) return undefined;
      throw err;
    }
  }

  #location(call: Call, res: IncomingMessage): URL {
    const loc = header(res.headers, "location");
    if (!loc) throw new RegistryError(`${call.method} ${safeUrl(call.url)}: ${res.statusCode} without a Location header`, { method: call.method, url: safeUrl(call.url), status: res.statusCode, temporary: false });
    return new URL(loc, call.url);
  }

  // ---- requests, auth, errors ------------------------------------------------

  #manifestCall(method: string, repo: string, reference: string, actions: string[]): Call {
    return {
      method,
      url: this.url(`/v2/${repo}/manifests/${reference}`),
      repo,
      scopes: [`repository:${repo}:${actions.join(",")}`],
      headers: { Accept: MANIFEST_ACCEPT },
    };
  }

  /** GET/HEAD that follows storage redirects, dropping our Authorization on another host. */
  async #followRedirects(call: Call): Promise<IncomingMessage> {
    let res = await this.#exchange(call);
    for (let hops = 0; hops < 5 && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0); hops++) {
      await drain(res);
      // #exchange sends credentials only when `next` is still the registry's origin.
      res = await this.#exchange({ ...call, url: this.#location(call, res) });
    }
    return res;
  }

  /**
   * Send with the auth the registry asked for. On a 401, learn the challenge (Basic vs Bearer,
   * the realm), fetch a fresh token for the operation's own scopes and try once more.
   */
  async #exchange(call: Call, mayReplayBody = true): Promise<IncomingMessage> {
    // Ours, from the operation: a challenge's `scope` never widens them (#noteWiderScope).
    const scopes = call.scopes;
    let rejected: string | undefined;
    // Credentials and tokens belong to the registry's origin only. An upload `Location` or a
    // redirect naming another origin (storage, or a hostile server) gets a plain request, and
    // its 401 is never taken as a challenge (it could point a token realm anywhere).
    if (call.url.origin !== this.url("/").origin) {
      try {
        return await send(this.#transport, { method: call.method, url: call.url, ...(call.headers ? { headers: call.headers } : {}), ...(call.body ? { body: call.body() } : {}), ...(call.bulk ? { bulk: true } : {}) });
      } catch (err) {
        throw asRegistryError(err, call.method, call.url);
      }
    }
    for (let authTry = 0; ; authTry++) {
      const authorization = await this.#authorization(scopes, rejected);
      const headers = { ...call.headers, ...(authorization ? { Authorization: authorization } : {}) };
      let res: IncomingMessage;
      try {
        res = await this.#sendWithFallback({ method: call.method, url: call.url, headers, body: call.body?.(), ...(call.bulk ? { bulk: true } : {}) });
      } catch (err) {
        throw asRegistryError(err, call.method, call.url);
      }
      if (res.statusCode !== 401) return res;
      await drain(res);
      const challenge = parseChallenge(header(res.headers, "www-authenticate"));
      const credentials = await this.#getCredentials();
      if (authTry >= 1 || !challenge || (challenge.scheme === "basic" && !credentials)) {
        throw await this.#unauthorized(call, res.statusCode);
      }
      this.#challenge = challenge;
      rejected = authorization;
      if (!mayReplayBody) {
        // The body stream is spent (typically a token that expired mid-upload): drop the
        // token and let the upload loop resume from what the registry kept.
        if (authorization !== undefined) this.#tokens.delete(scopes.join(" "));
        throw new RegistryError(`${call.method} ${safeUrl(call.url)}: 401, re-authenticating`, { method: call.method, url: safeUrl(call.url), status: 401, temporary: true });
      }
      if (challenge.scheme === "bearer") this.#noteWiderScope(call, challenge.params.scope);
    }
  }

  /** A registry asking for more than the operation needs is told no, once per client and scope. */
  #noteWiderScope(call: Call, asked: string | undefined): void {
    const extra = scopesBeyond(asked, call.scopes);
    if (extra.length === 0 || this.#scopeWarnings.has(extra.join(" "))) return;
    this.#scopeWarnings.add(extra.join(" "));
    this.#options.onWarning?.(`${this.registry} asked for token scopes beyond what ${call.method} needs (${extra.join(", ")}); asking for ${call.scopes.join(" ")} only`);
  }

  async #sendWithFallback(opts: { method: string; url: URL; headers: Record<string, string>; body?: Buffer | Readable; bulk?: boolean }): Promise<IncomingMessage> {
    try {
      return await send(this.#transport, opts);
    } catch (err) {
      // An insecure registry that turns out to speak plain HTTP: switch for good and retry once.
      const cause = (err as RegistryError).cause as NodeJS.ErrnoException | undefined;
      if (this.#insecure && this.#scheme === "https" && opts.url.protocol === "https:" && /EPROTO|ERR_SSL/i.test(`${cause?.code ?? ""} ${cause?.message ?? ""}`)) {
        this.#scheme = "http";
        const url = new URL(opts.url);
        url.protocol = "http:";
        return send(this.#transport, { ...opts, url });
      }
      throw err;
    }
  }

  #getCredentials(): Promise<Credentials | undefined> {
    if (this.#credentials === undefined) {
      this.#credentials =
        this.#options.credentials === null
          ? Promise.resolve(undefined)
          : this.#options.credentials !== undefined
            ? Promise.resolve(this.#options.credentials)
            : credentialsFor(this.registry, { env: this.#options.env });
    }
    return this.#credentials;
  }

  /**
   * The Authorization header for `scopes`. `rejected` is the header a 401 just refused:
   * a cached token equal to it is replaced; one that a parallel request already renewed is reused.
   */
  async #authorization(scopes: string[], rejected: string | undefined): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    const credentials = await this.#getCredentials();
    if (challenge.scheme === "basic") return credentials ? basicHeader(credentials) : undefined;
    if (challenge.scheme !== "bearer") return undefined;
    const key = scopes.join(" ");
    const entry = this.#tokens.get(key);
    if (entry) {
      const cached = await entry.catch(() => undefined);
      if (cached && cached.expiresAt > Date.now() && `Bearer ${cached.token}` !== rejected) return `Bearer ${cached.token}`;
    }
    if (this.#tokens.get(key) === entry) {
      const fresh = this.#fetchToken(challenge, scopes, credentials);
      this.#tokens.set(key, fresh);
      fresh.catch(() => {
        if (this.#tokens.get(key) === fresh) this.#tokens.delete(key);
      });
    }
    return `Bearer ${(await this.#tokens.get(key)!).token}`;
  }

  async #fetchToken(challenge: Challenge, scopes: string[], credentials: Credentials | undefined): Promise<{ token: string; expiresAt: number }> {
    const realm = challenge.params.realm;
    if (!realm) throw new AotpackError(`${this.registry} asked for a bearer token without naming a realm`);
    const url = tokenRealm(realm, this.registry, this.#scheme);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    for (const s of scopes) url.searchParams.append("scope", s);
    const repo = repoOfScopes(scopes);
    return this.#retrying(async () => {
      let res: IncomingMessage;
      try {
        res = await send(this.#transport, { method: "GET", url, headers: credentials ? { Authorization: basicHeader(credentials) } : {} });
      } catch (err) {
        throw asRegistryError(err, "GET", url);
      }
      const call: Call = { method: "GET", url, repo, scopes };
      if (res.statusCode === 401 || res.statusCode === 403) {
        await drain(res);
        throw await this.#unauthorized(call, res.statusCode);
      }
      if (res.statusCode !== 200) throw await this.#statusError(call, res);
      const body = await readBody(res, ERROR_BODY_LIMIT, `token from ${url.host}`);
      let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
      try {
        parsed = JSON.parse(body.toString("utf8")) as typeof parsed;
      } catch {
        throw new RegistryError(`token server ${url.host} answered with something that is not JSON`, { method: "GET", url: safeUrl(url), status: 200, temporary: false });
      }
      const token = typeof parsed.token === "string" ? parsed.token : typeof parsed.access_token === "string" ? parsed.access_token : undefined;
      if (!token) throw new RegistryError(`token server ${url.host} answered without a token`, { method: "GET", url: safeUrl(url), status: 200, temporary: false });
      // Tokens default to 60 s (distribution's token spec); renew a little early.
      const seconds = typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : 60;
      return { token, expiresAt: Date.now() + Math.max(1, seconds - 10) * 1000 };
    });
  }

  async #unauthorized(call: Call, status: number | undefined): Promise<RegistryError> {
    const credentials = await this.#getCredentials();
    const message = credentials
      ? `unauthorized: ${this.registry} rejected the credentials for ${call.repo}`
      : `unauthorized: ${this.registry} requires credentials for ${call.repo}`;
    return new RegistryError(message, {
      method: call.method,
      url: safeUrl(call.url),
      status,
      codes: ["UNAUTHORIZED"],
      temporary: false,
      hint: credentials
        ? `check the login for ${this.registry} in Docker's config.json (docker login ${this.registry})`
        : `log in first (docker login ${this.registry}), or set DOCKER_CONFIG to a config.json with credentials`,
    });
  }

  async #notFound(call: Call, res: IncomingMessage, message: string): Promise<RegistryError> {
    const body = await readBody(res, ERROR_BODY_LIMIT, safeUrl(call.url)).catch(() => Buffer.alloc(0));
    const { codes } = parseErrorCodes(body.toString("utf8"));
    return new RegistryError(message, { method: call.method, url: safeUrl(call.url), status: 404, codes, temporary: false });
  }

  async #statusError(call: Call, res: IncomingMessage): Promise<RegistryError> {
    const status = res.statusCode ?? 0;
    const body = call.method === "HEAD" ? Buffer.alloc(0) : await readBody(res, ERROR_BODY_LIMIT, safeUrl(call.url)).catch(() => Buffer.alloc(0));
    const { codes, messages } = parseErrorCodes(body.toString("utf8"));
    const url = safeUrl(call.url);
    const detail = [codes.join(","), messages[0]].filter((s) => s).join(": ");
    const message =
      status === 403
        ? `denied: ${this.registry} refused ${call.method} on ${call.repo}${detail ? ` (${detail})` : ""}`
        : `${call.method} ${url}: ${status}${detail ? ` ${detail}` : ""}`;
    return new RegistryError(message, {
      method: call.method,
      url,
      status,
      codes,
      temporary: isTemporaryStatus(status),
      retryAfterMs: parseRetryAfter(res.headers["retry-after"]),
    });
  }
}

/** An idempotent request inside the upload loop that has already used up its own retries. */
class RetriesUsedUp {
  constructor(readonly error: unknown) {}
}

/** Pulls exactly the bytes asked for from one source stream, across several requests. */
class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #leftover: Buffer = Buffer.alloc(0);
  constructor(source: Readable) {
    this.#it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }
  async #next(max: number): Promise<Buffer> {
    if (this.#leftover.length === 0) {
      const r = await this.#it.next();
      if (r.done) throw new AotpackError("blob source ended before its declared size");
      this.#leftover = r.value;
    }
    const out = this.#leftover.subarray(0, max);
    this.#leftover = this.#leftover.subarray(out.length);
    return out;
  }
  async skip(n: number): Promise<void> {
    while (n > 0) n -= (await this.#next(n)).length;
  }
  async *take(n: number, onBytes?: (sent: number) => void): AsyncGenerator<Buffer> {
    let sent = 0;
    while (sent < n) {
      const b = await this.#next(n - sent);
      sent += b.length;
      yield b;
      onBytes?.(sent);
    }
  }
}

export function asRegistryError(err: unknown, method: string, url: URL): RegistryError | AotpackError {
  return err instanceof AotpackError ? err : networkError(method, url, err);
}

function refSuffix(reference: string): string {
  return isDigest(reference) ? `@${reference}` : `:${reference}`;
}

function contentType(res: IncomingMessage): string | undefined {
  const ct = header(res.headers, "content-type");
  const mt = ct?.split(";")[0]?.trim();
  return mt && mt !== "application/json" && mt !== "text/plain" ? mt : undefined;
}

function mediaTypeOf(raw: Buffer): string {
  try {
    const doc = JSON.parse(raw.toString("utf8")) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === "string") return doc.mediaType;
    return Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  } catch {
    return MediaType.OciManifest;
  }
}

function repoOfScopes(scopes: string[]): string {
  const first = scopes.find((s) => s.startsWith("repository:"));
  return first ? first.split(":")[1] ?? "" : "";
}
