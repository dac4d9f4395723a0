/**
 * A small deterministic tar (ustar + PAX) writer, and a header scanner that indexes
 * an uncompressed tar file by entry name without reading the entry bodies.
 *
 * Hand-written rather than tar-stream's pack because every header byte must be under
 * our control for reproducible digests: empty uname/gname, fixed devmajor/devminor,
 * no atime/ctime records, and PAX records only when ustar cannot hold the value.
 */
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { AotpackError } from "../errors.ts";
import { fsError } from "./fs-util.ts";

export type TarEntryType = "file" | "directory" | "symlink";

export interface TarHeader {
  /** Path inside the archive, without a leading "/"; directories without a trailing "/" (added here). */
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
}

export interface TarEntry {
  header: TarHeader;
  /** Bytes of a "file" entry; must be exactly header.size long. A function is called only when the entry is written. */
  body?: Uint8Array | (() => Promise<Readable> | Readable);
}

const BLOCK = 512;
const MAX_OCTAL_11 = 0o77777777777; // largest value an 11-digit octal field holds
const MAX_OCTAL_7 = 0o7777777;
const TYPEFLAG: Record<TarEntryType | "pax", string> = { file: "0", directory: "5", symlink: "2", pax: "x" };

function isAsciiPrintable(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, Math.min(length, Buffer.byteLength(value)), "utf8");
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 digits, zero padded, then NUL: the form GNU tar and Go both write.
  const digits = Math.min(value, 8 ** (length - 1) - 1).toString(8).padStart(length - 1, "0");
  buf.write(digits + "\0", offset, length, "ascii");
}

function paxRecord(key: string, value: string): string {
  // "<len> <key>=<value>\n" where <len> counts itself.
  const rest = ` ${key}=${value}\n`;
  const restLen = Buffer.byteLength(rest);
  let len = restLen + String(restLen).length;
  while (restLen + String(len).length !== len) len = restLen + String(len).length;
  return `${len}${rest}`;
}

function ustarBlock(h: TarHeader, typeflag: string, name: string, linkname: string): Buffer {
  const buf = Buffer.alloc(BLOCK);
  writeString(buf, 0, 100, name);
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, h.uid);
  writeOctal(buf, 116, 8, h.gid);
  writeOctal(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, h.mtime);
  buf.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  buf.write(typeflag, 156, 1, "ascii");
  writeString(buf, 157, 100, linkname);
  buf.write("ustar\x0000", 257, 8, "binary");
  // uname (265) and gname (297) stay empty on purpose.
  writeOctal(buf, 329, 8, 0);
  writeOctal(buf, 337, 8, 0);
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "ascii");
  return buf;
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/** The header block(s) for one entry: a PAX extended header first when ustar cannot hold a value. */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === "directory" ? `${h.name}/` : h.name;
  const linkname = h.linkname ?? "";
  const records: string[] = [];
  if (Buffer.byteLength(name) > 100 || !isAsciiPrintable(name)) records.push(paxRecord("path", name));
  if (Buffer.byteLength(linkname) > 100 || !isAsciiPrintable(linkname)) records.push(paxRecord("linkpath", linkname));
  if (h.size > MAX_OCTAL_11) records.push(paxRecord("size", String(h.size)));
  if (h.uid > MAX_OCTAL_7) records.push(paxRecord("uid", String(h.uid)));
  if (h.gid > MAX_OCTAL_7) records.push(paxRecord("gid", String(h.gid)));
  if (h.mtime > MAX_OCTAL_11) records.push(paxRecord("mtime", String(h.mtime)));
  const main = ustarBlock(h, TYPEFLAG[h.type], asciiFallback(name, 100), asciiFallback(linkname, 100));
  if (records.length === 0) return main;
  const paxBody = Buffer.from(records.join(""), "utf8");
  // A fixed pseudo-name (no pid, unlike GNU tar) keeps the bytes reproducible.
  const paxHeader = ustarBlock(
    { name: "", type: "file", size: paxBody.length, mode: 0o644, uid: 0, gid: 0, mtime: Math.min(h.mtime, MAX_OCTAL_11) },
    TYPEFLAG.pax,
    asciiFallback(`PaxHeaders/${lastComponent(name)}`, 100),
    "",
  );
  return Buffer.concat([paxHeader, paxBody, padding(paxBody.length), main]);
}

function lastComponent(p: string): string {
  const trimmed = p.endsWith("/") ? p.slice(0, -1) : p;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** The ustar field value readers that ignore PAX see: ASCII, cut to fit. */
function asciiFallback(s: string, max: number): string {
  const ascii = s.replace(/[^\x20-\x7e]/g, "_");
  return ascii.length <= max ? ascii : ascii.slice(0, max);
}

/**
 * The archive as a stream of chunks. File bodies are streamed; a body whose length
 * differs from its header (a file that changed while being read) fails the stream.
 */
export async function* tarChunks(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    const h = entry.header;
    const size = h.type === "file" ? h.size : 0;
    yield encodeHeader({ ...h, size });
    if (h.type !== "file") continue;
    let written = 0;
    if (entry.body instanceof Uint8Array) {
      written = entry.body.length;
      if (written === size) yield Buffer.from(entry.body.buffer, entry.body.byteOffset, entry.body.byteLength);
    } else if (entry.body) {
      const stream = await entry.body();
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        written += chunk.length;
        if (written > size) {
          stream.destroy();
          break;
        }
        yield chunk;
      }
    }
    if (written !== size) {
      throw new AotpackError(`${h.name}: expected ${size} bytes but read ${written} (did the file change while it was being layered?)`);
    }
    yield padding(size);
  }
  yield Buffer.alloc(BLOCK * 2);
}

export interface TarIndexEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  /** Byte offset of the entry's data in the tar file. */
  offset: number;
  size: number;
  linkname?: string;
}

function readOctal(buf: Buffer, offset: number, length: number): number {
  const first = buf[offset] ?? 0;
  if (first & 0x80) {
    // GNU base-256 encoding for big numbers.
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + (buf[i] ?? 0);
    return value;
  }
  const s = buf.toString("ascii", offset, offset + length).replace(/[\0 ]+$/g, "").replace(/^[\0 ]+/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new AotpackError(`not a tar archive (bad number field ${JSON.stringify(s)})`);
  return parseInt(s, 8);
}

function readCString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString("utf8", offset, end === -1 || end > offset + length ? offset + length : end);
}

function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space === -1) break;
    const len = parseInt(body.toString("ascii", pos, space), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = body.toString("utf8", space + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

/** Strip "./" and "/" prefixes and trailing slashes so names compare as paths. */
export function normalizeTarName(name: string): string {
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  while (n.startsWith("/")) n = n.slice(1);
  while (n.endsWith("/")) n = n.slice(0, -1);
  return n;
}

/**
 * Index an uncompressed tar file: where each entry's data starts and how long it is,
 * reading only the headers (a 500 MB archive costs a few reads, not 500 MB). `limits` bound the
 * entries and each PAX / long-name body read, for a file that may be anything.
 */
export async function indexTarFile(file: string, limits: { maxEntries?: number; maxMetaBytes?: number } = {}): Promise<Map<string, TarIndexEntry>> {
  const { maxEntries = Infinity, maxMetaBytes = Infinity } = limits;
  const fh = await open(file, "r");
  try {
    const { size: fileSize } = await fh.stat();
    const out = new Map<string, TarIndexEntry>();
    const block = Buffer.alloc(BLOCK);
    let pos = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    let headers = 0;
    while (pos + BLOCK <= fileSize) {
      await fh.read(block, 0, BLOCK, pos);
      if (block.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
      if (readOctal(block, 148, 8) !== sum) throw new AotpackError(`${file}: not a tar archive (bad header checksum at byte ${pos})`);
      const typeflag = String.fromCharCode(block[156] ?? 0x30);
      let size = readOctal(block, 124, 12);
      const dataOffset = pos + BLOCK;
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (++headers > maxEntries) throw new AotpackError(`${file}: more than ${maxEntries} tar headers`);
      if (typeflag === "x" || typeflag === "L" || typeflag === "K") {
        if (size > maxMetaBytes) throw new AotpackError(`${file}: a tar metadata entry of ${size} bytes (at byte ${pos})`);
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, dataOffset);
        if (typeflag === "x") pax = parsePax(body);
        else if (typeflag === "L") longName = body.toString("utf8").replace(/\0+$/, "");
        else longLink = body.toString("utf8").replace(/\0+$/, "");
        pos = next;
        continue;
      }
      if (typeflag === "g") {
        pos = next;
        continue;
      }
      const magic = block.toString("binary", 257, 263);
      const prefix = magic.startsWith("ustar") ? readCString(block, 345, 155) : "";
      let name = longName ?? pax.get("path") ?? (prefix ? `${prefix}/${readCString(block, 0, 100)}` : readCString(block, 0, 100));
      const linkname = longLink ?? pax.get("linkpath") ?? readCString(block, 157, 100);
      if (pax.has("size")) size = Number(pax.get("size"));
      name = normalizeTarName(name);
      const type: TarIndexEntry["type"] =
        typeflag === "0" || typeflag === "\0" || typeflag === "7"
          ? "file"
          : typeflag === "5"
            ? "directory"
            : typeflag === "2"
              ? "symlink"
              : typeflag === "1"
                ? "hardlink"
                : "other";
      out.set(name, { name, type, offset: dataOffset, size, ...(linkname ? { linkname } : {}) });
      pos = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      pax = new Map();
      longName = undefined;
      longLink = undefined;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** indexTarFile for an archive the user named: a bad tar is "FILE is not KIND: why", an fs error names the file. */
export async function indexArchive(file: string, kind: string): Promise<Map<string, TarIndexEntry>> {
  try {
    return await indexTarFile(file);
  } catch (err) {
    if (err instanceof AotpackError) throw new AotpackError(`${file} is not ${kind}: ${err.message}`);
    throw fsError(err, "reading", file);
  }
}
