/**
 * Apply an image's layers to a directory, safely: OCI whiteouts and opaque dirs, no path
 * that leaves the root (by name, through symlinks already unpacked, or by hardlink),
 * no device nodes or FIFOs, modes kept without setuid/setgid; bounded in bytes, entries
 * and path length; each layer's diff_id checked against the uncompressed stream.
 */
import { createHash } from "node:crypto";
import { chmod, chown, lchown, link, lstat, mkdir, open, readdir, rm, symlink } from "node:fs/promises";
import { basename, dirname, posix } from "node:path";
import { Transform } from "node:stream";
import tar from "tar-stream";
import type { Header } from "tar-stream";
import { AotpackError, errorMessage } from "../errors.ts";
import type { Image, Layer } from "../oci/interfaces.ts";
import { cleanImagePath, resolveInRoot } from "./rootfs-path.ts";

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";

/**
 * setuid/setgid are dropped: the rootfs sits on the host while it runs, and a setuid-root
 * file from an untrusted image is a local privilege escalation for anyone who can reach it.
 * The sticky bit is harmless and /tmp needs it.
 */
const KEPT_MODE_BITS = 0o1777;

export interface UnpackLimits {
  /** Uncompressed tar bytes over all layers (default 4 GiB): a gzip bomb stops here. */
  maxUnpackedBytes: number;
  /** Tar entries over all layers (default 1,000,000). */
  maxEntries: number;
  /** Bytes in an entry's name or link target (default 4096, Linux's PATH_MAX). */
  maxPathLength: number;
}

export const DEFAULT_LIMITS: UnpackLimits = { maxUnpackedBytes: 4 * 1024 ** 3, maxEntries: 1_000_000, maxPathLength: 4096 };

/** "4 GiB", "64 MiB": sizes in limit messages, as the flag takes them. */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** What is left of the limits while the layers of one image are applied. */
interface Budget {
  limits: UnpackLimits;
  bytes: number;
  entries: number;
}

export interface UnpackOptions {
  limits?: Partial<UnpackLimits>;
  /**
   * Added to every owner id (ids of 65536 and more become 65534, nobody): the host ids a user
   * namespace maps the image's ids to. Only with keepOwners.
   */
  idShift?: number;
  /** Called for entries that are skipped on purpose (device nodes, FIFOs). */
  onWarning?: (message: string) => void;
  /**
   * Give files the owner recorded in the layer. Default: when running as root (so that an
   * image `User` can write to its own directories); an unprivileged caller cannot chown.
   */
  keepOwners?: boolean;
}

/** Apply every layer of `image`, in manifest order, onto `rootDir` (created if missing). */
export async function unpackImage(image: Image, rootDir: string, options: UnpackOptions = {}): Promise<void> {
  await mkdir(rootDir, { recursive: true });
  const layers = await image.layers();
  const budget: Budget = { limits: { ...DEFAULT_LIMITS, ...options.limits }, bytes: 0, entries: 0 };
  for (const [index, layer] of layers.entries()) {
    await applyLayer(layer, rootDir, `layer ${index + 1}/${layers.length}`, options, budget);
  }
  // The root itself must be traversable by a non-root image User (mkdtemp makes it 0700).
  const rootStat = await lstat(rootDir);
  if ((rootStat.mode & 0o055) !== 0o055) await chmod(rootDir, (rootStat.mode & 0o7777) | 0o755);
  if (options.idShift && (options.keepOwners ?? process.getuid?.() === 0)) await chown(rootDir, options.idShift, options.idShift);
}

/** Apply one layer's tar (uncompressed stream) onto `rootDir`, checking its diff_id. */
export async function applyLayer(layer: Layer, rootDir: string, label: string, options: UnpackOptions = {}, budget?: Budget): Promise<void> {
  let what = label;
  try {
    what = `${label} (${await layer.digest()})`;
  } catch {
    // digest is only for the message
  }
  const diffId = await layer.diffId();
  const hash = createHash("sha256");
  const b = budget ?? { limits: { ...DEFAULT_LIMITS, ...options.limits }, bytes: 0, entries: 0 };
  // Hash and count the uncompressed stream itself: what the tar parser sees is what is checked.
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      b.bytes += chunk.length;
      if (b.bytes > b.limits.maxUnpackedBytes) return done(sizeLimitError(what, b));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await applyLayerTar(await layer.uncompressed(), rootDir, what, options, b, meter);
  const actual = `sha256:${hash.digest("hex")}`;
  if (actual !== diffId) throw new AotpackError(`${what}: the uncompressed layer is ${actual}, but the image's config says its diff_id is ${diffId}; refusing a tampered or corrupt layer`);
}

function sizeLimitError(what: string, budget: Budget): AotpackError {
  return new AotpackError(`${what}: the image unpacks to more than the unpacked size limit (${formatSize(budget.limits.maxUnpackedBytes)})`, {
    hint: "raise it with --max-unpacked-size if you trust the image",
  });
}

/** Apply a tar stream onto `rootDir`; `what` names the layer in errors. */
export async function applyLayerTar(
  tarStream: NodeJS.ReadableStream,
  rootDir: string,
  what: string,
  options: UnpackOptions = {},
  budget: Budget = { limits: { ...DEFAULT_LIMITS, ...options.limits }, bytes: 0, entries: 0 },
  meter?: Transform,
): Promise<void> {
  const keepOwners = options.keepOwners ?? process.getuid?.() === 0;
  const shift = keepOwners ? (options.idShift ?? 0) : 0;
  const owner = (id: number | undefined): number => (shift === 0 ? (id ?? 0) : shift + ((id ?? 0) < 65536 ? (id ?? 0) : 65534));
  const warn = options.onWarning ?? (() => {});
  // Paths this layer created: an opaque marker hides only what lower layers put there.
  const createdHere = new Set<string>();
  const extract = tar.extract();
  let current: { destroy(err?: Error): void } | undefined;
  const consume = (async () => {
    for await (const entry of extract) {
      current = entry;
      const header = entry.header;
      try {
        checkLimits(header, budget, what);
        await applyEntry(rootDir, header, entry as unknown as AsyncIterable<Buffer>, createdHere, keepOwners ? owner : undefined, warn, what);
      } catch (err) {
        entry.resume();
        if (err instanceof AotpackError) throw err;
        throw new AotpackError(`${what}: cannot unpack "${header.name}": ${errorMessage(err)}`, { cause: err });
      }
      entry.resume(); // drain whatever an entry kind we skipped carried
    }
  })();
  // tar-stream is a streamx stream, and node's pipeline() never settles when it fails mid-entry:
  // feed it with pipe() and watch every stage's "error" ourselves.
  const failed = new Promise<never>((_resolve, reject) => {
    for (const stage of [tarStream, meter, extract]) (stage as NodeJS.EventEmitter | undefined)?.on("error", reject);
  });
  failed.catch(() => {});
  consume.catch(() => {});
  (meter ? tarStream.pipe(meter) : tarStream).pipe(extract as unknown as NodeJS.WritableStream);
  try {
    await Promise.race([consume, failed]);
  } catch (err) {
    // Stop everything: the entry being written ends (its for-await throws), the source stops.
    extract.destroy();
    current?.destroy(err instanceof Error ? err : new Error(String(err)));
    for (const stage of [tarStream, meter]) (stage as { destroy?: () => void } | undefined)?.destroy?.();
    throw asUnpackError(err, what);
  }
}

function asUnpackError(err: unknown, what: string): AotpackError {
  if (err instanceof AotpackError) return err;
  return new AotpackError(`${what}: malformed or truncated layer: ${errorMessage(err)}`, { cause: err });
}

/** Refuse an entry before anything of it is written: the declared size counts against the budget. */
function checkLimits(header: Partial<Header> & { name: string }, budget: Budget, what: string): void {
  if (++budget.entries > budget.limits.maxEntries) {
    throw new AotpackError(`${what}: the image has more than ${budget.limits.maxEntries.toLocaleString("en-US")} entries; refusing to unpack it`);
  }
  for (const p of [header.name, header.linkname ?? ""]) {
    if (Buffer.byteLength(p) > budget.limits.maxPathLength) {
      throw new AotpackError(`${what}: an entry's path is longer than ${budget.limits.maxPathLength} bytes ("${p.slice(0, 60)}…"); refusing to unpack`);
    }
  }
  if ((header.size ?? 0) > budget.limits.maxUnpackedBytes - budget.bytes) throw sizeLimitError(what, budget);
}

async function applyEntry(
  root: string,
  header: Partial<Header> & { name: string },
  body: AsyncIterable<Buffer>,
  createdHere: Set<string>,
  /** Host owner id for an image id; undefined: owners are not kept. */
  owner: ((id: number | undefined) => number) | undefined,
  warn: (m: string) => void,
  what: string,
): Promise<void> {
  const imagePath = cleanImagePath(header.name);
  if (imagePath === undefined) throw new AotpackError(`${what}: entry "${header.name}" escapes the image root; refusing to unpack`);
  if (imagePath === "/") {
    if (header.type === "directory" && header.mode !== undefined) await chmod(root, (header.mode & KEPT_MODE_BITS) | 0o700);
    return;
  }
  const name = basename(imagePath);
  const parentPath = dirname(imagePath);

  if (name === OPAQUE_MARKER) {
    const dir = await ensureDirectory(root, parentPath);
    for (const child of await readdir(dir)) {
      if (!createdHere.has(posix.join(parentPath, child))) await rm(`${dir}/${child}`, { recursive: true, force: true });
    }
    return;
  }
  if (name.startsWith(WHITEOUT_PREFIX)) {
    const hidden = name.slice(WHITEOUT_PREFIX.length);
    if (hidden === "" || hidden === "." || hidden === "..") throw new AotpackError(`${what}: invalid whiteout "${header.name}"`);
    const target = await resolveInRoot(root, posix.join(parentPath, hidden), { followFinal: false });
    await rm(target, { recursive: true, force: true });
    return;
  }

  const type = header.type ?? "file";
  if (type === "character-device" || type === "block-device" || type === "fifo") {
    warn(`${what}: skipped ${type} ${imagePath} (aotpack creates no device nodes or FIFOs)`);
    return;
  }
  if (type !== "file" && type !== "contiguous-file" && type !== "directory" && type !== "symlink" && type !== "link") {
    warn(`${what}: skipped ${imagePath} of unsupported type ${type}`);
    return;
  }

  // The parent chain is resolved (and created) inside the root; only the last name is ours to replace.
  const parentDir = await ensureDirectory(root, parentPath);
  const target = `${parentDir}/${name}`;
  const mode = (header.mode ?? (type === "directory" ? 0o755 : 0o644)) & KEPT_MODE_BITS;
  const existing = await lstat(target).catch(() => undefined);

  if (type === "directory") {
    if (existing && !existing.isDirectory()) await rm(target, { recursive: true, force: true });
    if (!existing?.isDirectory()) await mkdir(target, { mode: 0o700 });
    await chmod(target, mode);
  } else {
    if (existing) await rm(target, { recursive: true, force: true });
    if (type === "symlink") {
      // Absolute or relative, the link is stored as-is; later walks resolve it inside the root.
      await symlink(header.linkname ?? "", target);
    } else if (type === "link") {
      await createHardlink(root, header, target, what);
    } else {
      // O_EXCL: never write through something that appeared at the target. A plain loop, not
      // pipeline(): it ends with an error when the tar stream fails mid-entry (see applyLayerTar).
      const handle = await open(target, "wx", 0o600);
      try {
        for await (const chunk of body) await handle.write(chunk);
      } finally {
        await handle.close();
      }
      await chmod(target, mode);
    }
  }
  if (owner && type !== "link") await lchown(target, owner(header.uid), owner(header.gid));
  createdHere.add(imagePath);
}

async function createHardlink(root: string, header: Partial<Header> & { name: string }, target: string, what: string): Promise<void> {
  const linkPath = cleanImagePath(header.linkname ?? "");
  if (linkPath === undefined || linkPath === "/") {
    throw new AotpackError(`${what}: hardlink "${header.name}" points outside the image root ("${header.linkname}"); refusing to unpack`);
  }
  // Parents resolve inside the root; the last name is not followed, as link(2) does not.
  const source = await resolveInRoot(root, linkPath, { followFinal: false });
  const st = await lstat(source).catch(() => undefined);
  if (!st) throw new AotpackError(`${what}: hardlink "${header.name}" points to "${header.linkname}", which is not in the image`);
  if (st.isDirectory()) throw new AotpackError(`${what}: hardlink "${header.name}" points to a directory ("${header.linkname}")`);
  await link(source, target);
}

/** Resolve `imagePath` inside the root as a directory, creating missing parts (0755). */
async function ensureDirectory(root: string, imagePath: string): Promise<string> {
  let current = root;
  let walked = "/";
  for (const part of imagePath.split("/").filter((p) => p !== "")) {
    walked = posix.join(walked, part);
    const hostPath = await resolveInRoot(root, walked, { followFinal: true });
    const st = await lstat(hostPath).catch(() => undefined);
    if (!st) await mkdir(hostPath, { recursive: true, mode: 0o755 }); // a symlink may point into parts not made yet
    else if (!st.isDirectory()) await rm(hostPath, { force: true }).then(() => mkdir(hostPath, { mode: 0o755 }));
    current = hostPath;
  }
  return current;
}
