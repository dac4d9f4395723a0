/** The `Packages` index of one suite/component/architecture, parsed while `xz -dc` streams it. */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { AotpackError } from "../errors.ts";
import { STATUS_FIELDS, type ControlField } from "./dpkg-status.ts";

export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  /** Pool path relative to the mirror root, e.g. pool/main/g/glibc/libc6_2.36-9+deb12u13_amd64.deb */
  filename: string;
  size: number;
  sha256: string;
  /** Each inner list holds alternatives; version constraints and :arch qualifiers are dropped. */
  depends: string[][];
  /** The control fields status.d repeats (Source, Maintainer …); Description is its one-line synopsis. */
  control?: Partial<Record<ControlField, string>>;
}

const KEPT = new Set<string>(["package", "filename", "size", "sha256", ...STATUS_FIELDS]);

/** An index's records by package name: the Map a parse gives, or the cached record lines read lazily. */
export interface PackageLookup {
  get(name: string): PackageRecord | undefined;
}

const LINE_START = '{"name":"';

/** One JSON record per line, `name` first: what recordLines reads back. */
export function serializeRecordLines(index: Map<string, PackageRecord>): string {
  return [...index.values()].map(({ name, ...rest }) => JSON.stringify({ name, ...rest })).join("\n") + "\n";
}

/**
 * The cached record lines of an index, looked up by name without parsing the rest. An index holds
 * ~60,000 records (~47 MB); a base needs a few dozen. Parsing them all took ~0.4 s per architecture
 * and kept ~75 MB of objects alive for the garbage collector to mark through the whole build.
 * Throws on a line that is not a record, so a damaged file is rebuilt from the verified index.
 */
export function recordLines(bytes: Buffer): PackageLookup {
  const at = new Map<string, [number, number]>();
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    const quote = bytes.indexOf(34, start + LINE_START.length);
    if (bytes.toString("latin1", start, start + LINE_START.length) !== LINE_START || quote < 0 || quote >= end) {
      throw new Error(`not a package record at byte ${start}`);
    }
    const name = bytes.toString("utf8", start + LINE_START.length, quote);
    if (!at.has(name)) at.set(name, [start, end]);
    start = end + 1;
  }
  const parsed = new Map<string, PackageRecord>();
  return {
    get(name) {
      const hit = parsed.get(name);
      if (hit) return hit;
      const span = at.get(name);
      if (!span) return undefined;
      const record = JSON.parse(bytes.toString("utf8", span[0], span[1])) as PackageRecord;
      if (record.name !== name) throw new Error(`the cached record line for ${name} names ${String(record.name)}`);
      parsed.set(name, record);
      return record;
    },
  };
}

export function parseDepends(value: string | undefined): string[][] {
  if (!value) return [];
  return value
    .split(",")
    .map((group) =>
      group
        .split("|")
        .map((alt) => alt.trim().replace(/\s*[([].*$/, "").replace(/:\w+$/, ""))
        .filter(Boolean),
    )
    .filter((g) => g.length > 0);
}

/** Stream-decompress an .xz file with the xz tool and parse it; keeps only the fields we use. */
export async function readPackagesXz(file: string, timeoutMs = 300_000): Promise<Map<string, PackageRecord>> {
  const child = spawn("xz", ["-dc", file], { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  const errChunks: Buffer[] = [];
  child.stderr.on("data", (b: Buffer) => errChunks.push(b));
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "ENOENT" ? new AotpackError("xz not found: it decompresses Debian indexes", { hint: "apt-get install xz-utils" }) : e),
    );
    child.on("close", resolve);
  });
  const index = await parsePackages(createInterface({ input: child.stdout, crlfDelay: Infinity }));
  const code = await closed;
  if (code !== 0) throw new AotpackError(`xz -dc ${file} failed: ${Buffer.concat(errChunks).toString().trim() || `exit ${code}`}`);
  return index;
}

export async function parsePackages(lines: AsyncIterable<string> | Iterable<string>): Promise<Map<string, PackageRecord>> {
  const index = new Map<string, PackageRecord>();
  let f = new Map<string, string>();
  const flush = () => {
    const name = f.get("package");
    const sha = f.get("sha256");
    const filename = f.get("filename");
    if (name && sha && filename && !index.has(name)) {
      index.set(name, {
        name,
        version: f.get("version") ?? "",
        architecture: f.get("architecture") ?? "",
        filename,
        size: Number(f.get("size") ?? "0"),
        sha256: sha,
        depends: [...parseDepends(f.get("pre-depends")), ...parseDepends(f.get("depends"))],
        control: Object.fromEntries(STATUS_FIELDS.filter((k) => k !== "version" && k !== "architecture" && f.has(k)).map((k) => [k, f.get(k)!])),
      });
    }
    f = new Map();
  };
  for await (const line of lines) {
    if (line === "") {
      flush();
      continue;
    }
    if (line.startsWith(" ") || line.startsWith("\t")) continue; // continuation lines: only Description uses them
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).toLowerCase();
    if (KEPT.has(key)) {
      f.set(key, line.slice(colon + 1).trim());
    }
  }
  flush();
  return index;
}
