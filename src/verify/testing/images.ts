/**
 * Test images for src/verify: crafted tar layers (for the unpacker's security tests) and
 * real images of the Bun-compiled todo-server fixture with the host's glibc copied in.
 */
import { execFile } from "node:child_process";
import { access, chmod, mkdir, mkdtemp, realpath } from "node:fs/promises";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import tar from "tar-stream";
import type { Header } from "tar-stream";
import { sha256 } from "../../oci/digest.ts";
import type { Image, Layer } from "../../oci/interfaces.ts";
import { MediaType } from "../../oci/media-types.ts";
import { appendLayers, emptyImage, withConfig } from "../../oci/mutate.ts";
import { createLayer, type LayerEntry } from "../../oci/layer.ts";
import type { Platform } from "../../oci/platform.ts";
import type { RuntimeConfig } from "../../oci/types.ts";
import { ensureBunRuntime, installedBun } from "../../compile/bun-runtime.ts";
import { readElf } from "../../elf/read-elf.ts";
import { missingFile, skipOrFail } from "../../../test/support/index.ts";
import { namespacesAvailable } from "../host.ts";

const here = dirname(fileURLToPath(import.meta.url));
export const TODO_SERVER_SOURCE = join(here, "..", "testdata", "todo-server.js");
export const AMD64: Platform = { os: "linux", architecture: "amd64" };
export const ARM64: Platform = { os: "linux", architecture: "arm64" };

export interface TarEntrySpec {
  header: Partial<Header> & { name: string };
  content?: string | Buffer;
}

/** The bytes of an uncompressed tar of `entries` (end-of-archive included). */
export async function tarBytes(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => pack.entry({ mode: 0o644, ...e.header }, e.content ?? "", (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** An uncompressed layer from hand-written tar entries (anything tar can say, hostile or not). */
export async function tarLayer(entries: TarEntrySpec[]): Promise<Layer> {
  const bytes = await tarBytes(entries);
  const digest = sha256(bytes);
  return {
    digest: async () => digest,
    diffId: async () => digest,
    size: async () => bytes.length,
    mediaType: async () => MediaType.OciLayer,
    compressed: async () => Readable.from([bytes]),
    uncompressed: async () => Readable.from([bytes]),
  };
}

/** An image of `layers` for `platform` with the given runtime config. */
export function imageOf(platform: Platform, layers: Layer[], config: RuntimeConfig = {}): Image {
  const withLayers = appendLayers(emptyImage(platform), layers.map((layer) => ({ layer })));
  return withConfig(withLayers, (cfg) => ({ ...cfg, config: { ...cfg.config, ...config } }));
}

/** Compile the todo-server fixture with Bun for `platform` into `outDir`; returns the executable. */
export async function compileTodoServer(platform: Platform, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const out = join(outDir, `todo-server-${platform.architecture}`);
  const target = platform.architecture === "arm64" ? "bun-linux-arm64" : "bun-linux-x64";
  const args = ["build", "--compile", `--target=${target}`, TODO_SERVER_SOURCE, "--outfile", out];
  // Bun would download foreign runtimes itself; the compile module's npm-fetched cache is used instead.
  if (platform.architecture !== process.arch.replace("x64", "amd64")) args.push(`--compile-executable-path=${await ensureBunRuntime(platform)}`);
  await promisify(execFile)(installedBun().executable, args, { cwd: outDir, timeout: 120_000 });
  return out;
}

/** Where the host keeps the C library for `platform` (native, or Debian's cross packages). */
function libDirFor(platform: Platform): { loader: string; libDir: string; triplet: string } {
  return platform.architecture === "arm64"
    ? { loader: "/lib/ld-linux-aarch64.so.1", libDir: "/usr/aarch64-linux-gnu/lib", triplet: "aarch64-linux-gnu" }
    : { loader: "/lib64/ld-linux-x86-64.so.2", libDir: "/lib/x86_64-linux-gnu", triplet: "x86_64-linux-gnu" };
}

export interface TodoImageOptions {
  /** Leave the ELF interpreter out. */
  omitLoader?: boolean;
  /** Leave these libraries out (e.g. "libm.so.6"). */
  omitLibraries?: string[];
  /** Extra Env, e.g. TODO_IGNORE_SIGTERM=1. */
  env?: string[];
  /** The platform written into the config (default: the binary's). */
  declaredPlatform?: Platform;
  user?: string;
  workingDir?: string;
  /** /home/app, owned by the app user (1000:1000), as a base's home for its user is. */
  home?: boolean;
  /** A host tini to ship at /usr/bin/tini, run as PID 1 before the app (Entrypoint tini -- /app/server). */
  init?: string;
}

/**
 * An image with the compiled server at /app/server, the ELF interpreter and every library
 * it needs (transitively, read with readElf) copied from the host's glibc for its arch.
 */
export async function todoImage(binary: string, platform: Platform, layerDir: string, options: TodoImageOptions = {}): Promise<Image> {
  const { loader, libDir, triplet } = libDirFor(platform);
  const entries: LayerEntry[] = [
    { path: "/app", type: "directory", mode: 0o755 },
    { path: "/app/server", type: "file", source: binary, mode: 0o755 },
    { path: "/etc", type: "directory", mode: 0o755 },
    { path: "/etc/passwd", type: "file", content: "root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000:app:/home/app:/sbin/nologin\n" },
    { path: "/etc/group", type: "file", content: "root:x:0:\napp:x:1000:\n" },
    { path: "/tmp", type: "directory", mode: 0o1777 },
    { path: "/lib", type: "directory", mode: 0o755 },
    { path: `/lib/${triplet}`, type: "directory", mode: 0o755 },
  ];
  if (loader.startsWith("/lib64/")) entries.push({ path: "/lib64", type: "directory", mode: 0o755 });
  if (options.home) entries.push({ path: "/home/app", type: "directory", mode: 0o755, uid: 1000, gid: 1000 });
  if (options.init) entries.push({ path: "/usr/bin/tini", type: "file", source: options.init, mode: 0o755 });
  if (!options.omitLoader) entries.push({ path: loader, type: "file", source: await realpath(platform.architecture === "arm64" ? join(libDir, posix.basename(loader)) : loader), mode: 0o755 });
  const omit = new Set(options.omitLibraries ?? []);
  const seen = new Set<string>();
  const queue = [...(await readElf(binary)).needed, ...(options.init ? (await readElf(options.init)).needed : [])];
  while (queue.length > 0) {
    const lib = queue.shift() as string;
    if (seen.has(lib) || lib === posix.basename(loader)) continue;
    seen.add(lib);
    const hostLib = join(libDir, lib);
    await access(hostLib);
    if (!omit.has(lib)) entries.push({ path: `/lib/${triplet}/${lib}`, type: "file", source: await realpath(hostLib), mode: 0o644 });
    queue.push(...(await readElf(hostLib)).needed);
  }
  // Bun's aarch64 build lists the loader among NEEDED too: the loader copy above covers it.
  const layer = await createLayer(entries, { compression: "none", blobDir: layerDir });
  const declared = options.declaredPlatform ?? platform;
  return imageOf(declared, [layer], {
    Entrypoint: [...(options.init ? ["/usr/bin/tini", "--"] : []), "/app/server"],
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "PORT=8080", ...(options.env ?? [])],
    ExposedPorts: { "8080/tcp": {} },
    WorkingDir: options.workingDir ?? "/app",
    ...(options.user ? { User: options.user } : {}),
  });
}

/** Is a real component installed? In CI a missing one is a failure, elsewhere a skip reason (test/support's rule). */
export async function requireTool(path: string, what: string): Promise<string | undefined> {
  return skipOrFail(missingFile(path, what)) || undefined;
}

/** What the run and verify tests share: a sandbox-reachable work dir with runs/ and empty/, namespaces, an amd64 Todo server. */
export interface RunTestWork {
  work: string;
  runDir: string;
  /** An empty directory: as a binfmt_misc mount point it hides any registration; as PATH it holds no qemu. */
  emptyDir: string;
  namespaces: boolean;
  amd64Binary: string;
}

export async function runTestWork(prefix: string): Promise<RunTestWork> {
  const work = await sandboxWorkDir(prefix);
  const runDir = join(work, "runs");
  const emptyDir = join(work, "empty");
  await mkdir(runDir);
  await mkdir(emptyDir);
  const namespaces = await namespacesAvailable();
  if (!namespaces) skipOrFail("no namespaces here (unshare failed); CI runs as root with them");
  return { work, runDir, emptyDir, namespaces, amd64Binary: await compileTodoServer(AMD64, join(work, "bin")) };
}

/**
 * A temp work dir that runc's mapped root (an unprivileged host id) can walk through to a rootfs
 * below it: 0711, since mkdtemp makes 0700.
 */
export async function sandboxWorkDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o711);
  return dir;
}
