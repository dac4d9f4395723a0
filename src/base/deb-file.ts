/**
 * Reading a .deb: an `ar` archive whose data.tar.{xz,zst,gz} holds the files.
 * We parse ar ourselves (60-byte headers, nothing else) and stream the tar through
 * tar-stream, decompressing with the xz, zstd or gzip tools.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { link, mkdir, open, rm, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { AotpackError, errorMessage } from "../errors.ts";
import { placeDirEntry } from "../cache.ts";
import { DigestCounter } from "../oci/digest.ts";
import { fileReadStream, tempPathBeside } from "../oci/fs-util.ts";

export interface ArMember {
  name: string;
  offset: number;
  size: number;
}

/** List the members of an ar archive (GNU/BSD common format as dpkg-deb writes it). */
export async function listArMembers(path: string): Promise<ArMember[]> {
  const fh = await open(path, "r");
  try {
    const { size: total } = await fh.stat();
    const magic = Buffer.alloc(8);
    await fh.read(magic, 0, 8, 0);
    if (magic.toString("latin1") !== "!<arch>\n") throw new AotpackError(`${path}: not a .deb (no ar header)`);
    const members: ArMember[] = [];
    let pos = 8;
    const header = Buffer.alloc(60);
    while (pos + 60 <= total) {
      await fh.read(header, 0, 60, pos);
      if (header.toString("latin1", 58, 60) !== "`\n") throw new AotpackError(`${path}: corrupt ar member header at ${pos}`);
      const name = header.toString("latin1", 0, 16).trim().replace(/\/$/, "");
      const size = Number.parseInt(header.toString("latin1", 48, 58).trim(), 10);
      if (!Number.isFinite(size) || size < 0 || pos + 60 + size > total) throw new AotpackError(`${path}: corrupt ar member size at ${pos}`);
      members.push({ name, offset: pos + 60, size });
      pos += 60 + size + (size % 2); // members are 2-byte aligned
    }
    return members;
  } finally {
    await fh.close();
  }
}

const DECOMPRESSORS: Record<string, { tool: string; pkg: string }> = {
  xz: { tool: "xz", pkg: "xz-utils" },
  zst: { tool: "zstd", pkg: "zstd" },
  gz: { tool: "gzip", pkg: "gzip" },
};

/** Stream of the uncompressed data.tar of a .deb; `done` settles when the decompressor has exited. */
export async function openDataTar(debPath: string): Promise<{ tarStream: Readable; done: Promise<void> }> {
  const members = await listArMembers(debPath);
  const data = members.find((m) => m.name.startsWith("data.tar"));
  if (!data) throw new AotpackError(`${debPath}: no data.tar member`);
  const raw = fileReadStream(debPath, { start: data.offset, end: data.offset + Math.max(data.size, 1) - 1 });
  const ext = data.name.slice("data.tar".length).replace(/^\./, "");
  if (ext === "") return { tarStream: raw, done: Promise.resolve() };
  const d = DECOMPRESSORS[ext];
  if (!d) throw new AotpackError(`${debPath}: unsupported data member ${data.name}`);
  const child = spawn(d.tool, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  const errChunks: Buffer[] = [];
  child.stderr.on("data", (b: Buffer) => errChunks.push(b));
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "ENOENT" ? new AotpackError(`${d.tool} not found: it decompresses .deb contents`, { hint: `apt-get install ${d.pkg}` }) : e),
    );
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new AotpackError(`${d.tool} -dc failed on ${debPath}: ${Buffer.concat(errChunks).toString().trim() || `exit ${code}`}`)),
    );
  });
  const fed = pipeline(raw, child.stdin);
  return { tarStream: child.stdout, done: Promise.all([fed, exited]).then(() => undefined) };
}

export type TreeEntryType = "file" | "directory" | "symlink";

export interface TreeEntry {
  /** Canonical path without leading slash, usrmerge applied: lib/x → usr/lib/x. */
  path: string;
  type: TreeEntryType;
  mode: number;
  size: number;
  /** Symlink target as in the package. */
  linkname?: string;
  /** True when the bytes were extracted to the tree's root dir. */
  extracted?: boolean;
  /** sha256 hex of the extracted bytes, taken from the verified .deb's stream; checked on every use. */
  sha256?: string;
}

const MERGED_TOP = new Set(["bin", "sbin", "lib", "lib32", "lib64", "libx32"]);

/**
 * `./lib/x86_64-linux-gnu/libc.so.6` → `usr/lib/x86_64-linux-gnu/libc.so.6`.
 * Bookworm packages still ship under /lib while the system is merged (/lib → usr/lib);
 * trixie ships under /usr. Canonical paths make both the same.
 */
export function canonicalDebPath(name: string): string | undefined {
  const parts = name.replace(/^\.?\/+/, "").split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return undefined;
  if (parts.length === 0) return "";
  if (MERGED_TOP.has(parts[0]!)) parts.unshift("usr");
  return parts.join("/");
}

/** Resolve a symlink target to a canonical absolute-free path, given the link's own canonical path. */
export function resolveLinkTarget(linkPath: string, target: string): string | undefined {
  const joined = target.startsWith("/") ? target : posix.join(posix.dirname(linkPath), target);
  return canonicalDebPath(posix.normalize(joined));
}

/**
 * Which file bytes we keep in the extracted cache. Every entry is listed in the manifest, but
 * manuals, translations and docs (other than copyright files) never reach the disk: no slice uses them.
 */
export function worthExtracting(path: string): boolean {
  if (path.startsWith("usr/share/doc/")) return path.endsWith("/copyright");
  return !/^usr\/share\/(man|info|locale|lintian|bug|doc-base|bash-completion)\//.test(path);
}

/**
 * Extract a .deb into `destDir` (created atomically: temp dir beside it, then rename):
 * `destDir/manifest.json` lists every entry; `destDir/root/PATH` holds the bytes we keep.
 */
export async function extractDeb(debPath: string, destDir: string): Promise<TreeEntry[]> {
  const tmp = tempPathBeside(destDir);
  const root = join(tmp, "root");
  await mkdir(root, { recursive: true });
  const entries: TreeEntry[] = [];
  try {
    const { tarStream, done } = await openDataTar(debPath);
    const extract = tar.extract();
    const consumed = (async () => {
      for await (const entry of extract) {
        const h = entry.header;
        const path = canonicalDebPath(h.name);
        if (path === undefined) throw new AotpackError(`${debPath}: unsafe path ${h.name} in data.tar`);
        if (path === "") {
          entry.resume();
          continue;
        }
        const mode = (h.mode ?? 0o644) & 0o7777;
        if (h.type === "directory") {
          entries.push({ path, type: "directory", mode, size: 0 });
          entry.resume();
        } else if (h.type === "symlink" && h.linkname) {
          entries.push({ path, type: "symlink", mode: 0o777, size: 0, linkname: h.linkname });
          entry.resume();
        } else if (h.type === "link" && h.linkname) {
          // Hard link: same bytes as an earlier entry; keep it as a file backed by that copy.
          const target = canonicalDebPath(h.linkname);
          const prior = entries.find((e) => e.path === target && e.type === "file");
          if (prior) {
            entries.push({ path, type: "file", mode, size: prior.size, extracted: prior.extracted ?? false, ...(prior.sha256 ? { sha256: prior.sha256 } : {}) });
            if (prior.extracted) {
              await mkdir(dirname(join(root, path)), { recursive: true });
              await link(join(root, prior.path), join(root, path));
            }
          }
          entry.resume();
        } else if (h.type === "file" || h.type === "contiguous-file") {
          const keep = worthExtracting(path);
          const e: TreeEntry = { path, type: "file", mode, size: h.size ?? 0, extracted: keep };
          entries.push(e);
          if (keep) {
            await mkdir(dirname(join(root, path)), { recursive: true });
            const counter = new DigestCounter();
            await pipeline(entry, counter, createWriteStream(join(root, path), { mode: 0o644 }));
            e.sha256 = counter.result().digest.slice("sha256:".length);
          } else entry.resume();
        } else entry.resume(); // devices, fifos: never in a base
      }
    })();
    await Promise.all([pipeline(tarStream, extract), consumed, done]);
    await writeFile(join(tmp, "manifest.json"), JSON.stringify(entries));
    // Another build extracted the same .deb (same sha256, same bytes) first: keep theirs.
    if (!(await placeDirEntry(tmp, destDir))) await rm(tmp, { recursive: true, force: true });
    return entries;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof AotpackError) throw err;
    throw new AotpackError(`cannot extract ${debPath}: ${errorMessage(err)}`, { cause: err });
  }
}
