/**
 * Apply an image's layers to a directory, safely: OCI whiteouts and opaque dirs, no path
 * that leaves the root (by name, through symlinks already unpacked, or by hardlink),
 * no device nodes or FIFOs, modes kept without setuid/setgid.
 */
import { chmod, lchown, link, lstat, mkdir, open, readdir, rm, symlink } from "node:fs/promises";
import { basename, dirname, posix } from "node:path";
import { pipeline } from "node:stream/promises";
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

export interface UnpackOptions {
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
  for (const [index, layer] of layers.entries()) {
    await applyLayer(layer, rootDir, `layer ${index + 1}/${layers.length}`, options);
  }
  // The root itself must be traversable by a non-root image User (mkdtemp makes it 0700).
  const rootStat = await lstat(rootDir);
  if ((rootStat.mode & 0o055) !== 0o055) await chmod(rootDir, (rootStat.mode & 0o7777) | 0o755);
}

/** Apply one layer's tar (uncompressed stream) onto `rootDir`. */
export async function applyLayer(layer: Layer, rootDir: string, label: string, options: UnpackOptions = {}): Promise<void> {
  let what = label;
  try {
    what = `${label} (${await layer.digest()})`;
  } catch {
    // digest is only for the message
  }
  await applyLayerTar(await layer.uncompressed(), rootDir, what, options);
}

/** Apply a tar stream onto `rootDir`; `what` names the layer in errors. */
export async function applyLayerTar(
  tarStream: NodeJS.ReadableStream,
  rootDir: string,
  what: string,
  options: UnpackOptions = {},
): Promise<void> {
  const keepOwners = options.keepOwners ?? process.getuid?.() === 0;
  const warn = options.onWarning ?? (() => {});
  // Paths this layer created: an opaque marker hides only what lower layers put there.
  const createdHere = new Set<string>();
  const extract = tar.extract();
  const consume = (async () => {
    for await (const entry of extract) {
      const header = entry.header;
      try {
        await applyEntry(rootDir, header, entry as unknown as AsyncIterable<Buffer>, createdHere, keepOwners, warn, what);
      } catch (err) {
        entry.resume();
        if (err instanceof AotpackError) throw err;
        throw new AotpackError(`${what}: cannot unpack "${header.name}": ${errorMessage(err)}`, { cause: err });
      }
      entry.resume(); // drain whatever an entry kind we skipped carried
    }
  })();
  // If the consumer fails first, stop feeding the extractor so the pipeline settles.
  const fed = pipeline(tarStream, extract as unknown as NodeJS.WritableStream);
  try {
    await consume;
  } catch (err) {
    extract.destroy();
    await fed.catch(() => {});
    throw err;
  }
  await fed;
}

async function applyEntry(
  root: string,
  header: Partial<Header> & { name: string },
  body: AsyncIterable<Buffer>,
  createdHere: Set<string>,
  keepOwners: boolean,
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
      // O_EXCL: never write through something that appeared at the target.
      const handle = await open(target, "wx", 0o600);
      await pipeline(body, handle.createWriteStream());
      await chmod(target, mode);
    }
  }
  if (keepOwners && type !== "link") await lchown(target, header.uid ?? 0, header.gid ?? 0);
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
