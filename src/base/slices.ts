/**
 * Choose the "slices" of Debian packages a binary needs, as chisel/distroless do: the
 * ELF interpreter, each NEEDED library followed transitively through the libraries'
 * own NEEDED, their symlinks, the copyright files, and optional CA bundle / zoneinfo.
 * Which package holds a soname comes from a small hint table, checked against the
 * package's real contents; unknown sonames are searched in the requiring package's Depends.
 */
import { open, readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { AotpackError } from "../errors.ts";
import { readElf } from "../elf/read-elf.ts";
import type { ElfInfo } from "../elf/types.ts";
import type { RuntimeLibrary } from "../compile/types.ts";
import type { LayerEntry } from "../oci/layer.ts";
import type { DebTree } from "./archive.ts";
import { canonicalDebPath, resolveLinkTarget, type TreeEntry } from "./deb-file.ts";
import type { PackageRecord } from "./packages-index.ts";

/** Multiarch triplet of a Debian architecture: where its libraries live. */
/** zic inputs shipped beside the compiled zones; no run-time reader opens them. */
const ZIC_SOURCES = new Set(["usr/share/zoneinfo/tzdata.zi", "usr/share/zoneinfo/leapseconds", "usr/share/zoneinfo/leap-seconds.list"]);

export const MULTIARCH: Record<string, string> = {
  amd64: "x86_64-linux-gnu",
  arm64: "aarch64-linux-gnu",
  armhf: "arm-linux-gnueabihf",
  armel: "arm-linux-gnueabi",
  i386: "i386-linux-gnu",
  ppc64el: "powerpc64le-linux-gnu",
  s390x: "s390x-linux-gnu",
  riscv64: "riscv64-linux-gnu",
};

const GLIBC = [
  "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2", "libutil.so.1",
  "libanl.so.1", "libnss_files.so.2", "libnss_dns.so.2", "libBrokenLocale.so.1", "libmvec.so.1", "libc_malloc_debug.so.0",
  "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux-armhf.so.3", "ld-linux.so.3", "ld-linux.so.2", "ld64.so.2", "ld64.so.1",
  "ld-linux-riscv64-lp64d.so.1",
];

/** Hints: soname → candidate packages, first present in the index wins. Always verified against the .deb. */
const SONAME_HINTS: Record<string, string[]> = {
  ...Object.fromEntries(GLIBC.map((s) => [s, ["libc6"]])),
  "libgcc_s.so.1": ["libgcc-s1"],
  "libstdc++.so.6": ["libstdc++6"],
  "libatomic.so.1": ["libatomic1"],
  "libz.so.1": ["zlib1g"],
  "libssl.so.3": ["libssl3t64", "libssl3"],
  "libcrypto.so.3": ["libssl3t64", "libssl3"],
  "libzstd.so.1": ["libzstd1"],
  "liblzma.so.5": ["liblzma5"],
  "libbz2.so.1.0": ["libbz2-1.0"],
  "libffi.so.8": ["libffi8"],
  "libuuid.so.1": ["libuuid1"],
  "libgomp.so.1": ["libgomp1"],
};

/** Debian policy names a library package after its soname: libfoo.so.3 → libfoo3 (or libfoo-3, libfoo3t64). */
function policyNames(soname: string): string[] {
  const m = /^(lib[A-Za-z0-9_+.-]*?)\.so\.(\d+)/.exec(soname);
  if (!m?.[1]) return [];
  const base = m[1].toLowerCase().replace(/_/g, "-");
  const v = m[2];
  const sep = /\d$/.test(base) ? "-" : "";
  return [`${base}${sep}${v}t64`, `${base}${sep}${v}`, `${base}-${v}`];
}

export interface SliceRequest {
  arch: string;
  elf?: ElfInfo;
  caCertificates: boolean;
  tzdata: boolean;
  extraPackages: string[];
  /** dlopen'd libraries and data the executable needs at run time (zoneinfo is `tzdata`). */
  runtimeLibraries?: RuntimeLibrary[];
}

export interface PackageSource {
  /** The index record for `name`, after lockfile checks; undefined when the suite has no such package. */
  lookup(name: string): PackageRecord | undefined;
  tree(record: PackageRecord): Promise<DebTree>;
}

export interface SlicedFiles {
  /** Absolute in-image paths; parents are added by createLayer. */
  entries: LayerEntry[];
  /** Packages we took files from, sorted by name. */
  packages: PackageRecord[];
}

interface Picked {
  entry: LayerEntry;
  pkg: string;
}

const MAX_LINK_HOPS = 40;

async function isElf(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && b.readUInt32BE(0) === 0x7f454c46;
  } finally {
    await fh.close();
  }
}

export class SliceResolver {
  readonly #picked = new Map<string, Picked>();
  readonly #used = new Map<string, PackageRecord>();
  readonly #trees = new Map<string, DebTree>();
  readonly #libDirs: string[];

  constructor(
    readonly request: SliceRequest,
    readonly source: PackageSource,
  ) {
    const triplet = MULTIARCH[request.arch];
    this.#libDirs = [...(triplet ? [`usr/lib/${triplet}`] : []), "usr/lib", "usr/lib64"];
  }

  async #treeOf(name: string): Promise<DebTree | undefined> {
    const cached = this.#trees.get(name);
    if (cached) return cached;
    const record = this.source.lookup(name);
    if (!record) return undefined;
    const tree = await this.source.tree(record);
    this.#trees.set(name, tree);
    return tree;
  }

  async #requireTree(name: string, why: string): Promise<DebTree> {
    const tree = await this.#treeOf(name);
    if (!tree) throw new AotpackError(`Debian package ${name} (${why}) is not in the ${this.request.arch} index`);
    return tree;
  }

  #use(tree: DebTree): void {
    this.#used.set(tree.record.name, tree.record);
  }

  #pick(path: string, entry: LayerEntry, tree: DebTree): boolean {
    if (this.#picked.has(path)) return false;
    this.#picked.set(path, { entry, pkg: tree.record.name });
    this.#use(tree);
    return true;
  }

  /** Add one packaged path, its symlink chain, and (for ELF files) what it needs. */
  async addPath(tree: DebTree, path: string, hops = 0): Promise<void> {
    if (hops > MAX_LINK_HOPS) throw new AotpackError(`too many symlinks resolving /${path} in ${tree.record.name}`);
    const entry = tree.entries.get(path);
    if (!entry) throw new AotpackError(`/${path} is not in ${tree.record.name} ${tree.record.version}`);
    await this.#addEntry(tree, entry, hops);
  }

  async #addEntry(tree: DebTree, entry: TreeEntry, hops: number): Promise<void> {
    const path = entry.path;
    if (entry.type === "directory") {
      this.#pick(path, { path: `/${path}`, type: "directory", mode: entry.mode }, tree);
      return;
    }
    if (entry.type === "symlink") {
      const target = resolveLinkTarget(path, entry.linkname ?? "");
      if (target === undefined) throw new AotpackError(`unsafe symlink /${path} → ${entry.linkname} in ${tree.record.name}`);
      // Relative links resolve the same in a chroot and under `qemu -L ROOTFS`; absolute ones would escape the latter.
      const linkname = posix.relative(posix.dirname(path), target) || ".";
      if (!this.#pick(path, { path: `/${path}`, type: "symlink", linkname }, tree)) return;
      const targetEntry = tree.entries.get(target);
      if (targetEntry) await this.#addEntry(tree, targetEntry, hops + 1);
      else if (!this.#picked.has(target)) {
        throw new AotpackError(`symlink /${path} in ${tree.record.name} points to /${target}, which the package does not ship`);
      }
      return;
    }
    if (!entry.extracted) throw new AotpackError(`/${path} of ${tree.record.name} was not extracted (documentation is never kept)`);
    const source = join(tree.root, path);
    if (!this.#pick(path, { path: `/${path}`, type: "file", source, mode: entry.mode }, tree)) return;
    if (await isElf(source)) {
      const info = await readElf(source);
      for (const soname of info.needed) {
        // Plugins such as glibc's gconv modules need siblings from their own directory ($ORIGIN),
        // not from the library path: take the sibling from the same package.
        const sibling = posix.join(posix.dirname(path), soname);
        const siblingEntry = tree.entries.get(sibling);
        if (siblingEntry) await this.#addEntry(tree, siblingEntry, hops + 1);
        else await this.addSoname(soname, tree);
      }
    }
  }

  /** Links maintainer scripts complete at install time (zoneinfo/localtime → /etc/localtime) dangle in a slice: leave them out. */
  #dangles(tree: DebTree, e: TreeEntry): boolean {
    if (e.type !== "symlink") return false;
    const target = resolveLinkTarget(e.path, e.linkname ?? "");
    return target === undefined || (!tree.entries.has(target) && !this.#picked.has(target));
  }

  #findLib(tree: DebTree, soname: string): string | undefined {
    return this.#libDirs.map((d) => `${d}/${soname}`).find((p) => tree.entries.has(p));
  }

  /** Add the library `soname`, found in a package already used, a hinted package, or the requirer's Depends. */
  async addSoname(soname: string, requiredBy?: DebTree): Promise<void> {
    if (soname.includes("/")) throw new AotpackError(`NEEDED entry "${soname}" is a path; only sonames are supported`);
    for (const dir of this.#libDirs) if (this.#picked.has(`${dir}/${soname}`)) return;
    const candidates: string[] = [...this.#used.keys()];
    for (const name of [...(SONAME_HINTS[soname] ?? []), ...policyNames(soname)]) if (!candidates.includes(name)) candidates.push(name);
    for (const group of requiredBy?.record.depends ?? []) for (const name of group) if (!candidates.includes(name)) candidates.push(name);
    for (const name of candidates) {
      const tree = await this.#treeOf(name);
      if (!tree) continue;
      const path = this.#findLib(tree, soname);
      if (path) {
        await this.addPath(tree, path);
        return;
      }
    }
    const who = requiredBy ? `${requiredBy.record.name}` : "the executable";
    throw new AotpackError(`no Debian package found for ${soname} (needed by ${who}) on ${this.request.arch}`, {
      hint: "name the package with an extra base package (BaseRequirements.extraPackages)",
    });
  }

  /** The ELF interpreter (PT_INTERP), e.g. /lib64/ld-linux-x86-64.so.2, from the package that ships that path. */
  async addInterpreter(interpreter: string): Promise<void> {
    const path = canonicalDebPath(interpreter);
    if (!path || !interpreter.startsWith("/")) throw new AotpackError(`unsupported ELF interpreter ${interpreter}`);
    const base = posix.basename(path);
    for (const name of [...(SONAME_HINTS[base] ?? []), "libc6", ...this.#used.keys()]) {
      const tree = await this.#treeOf(name);
      if (tree?.entries.has(path)) {
        await this.addPath(tree, path);
        return;
      }
    }
    throw new AotpackError(`no Debian package ships the ELF interpreter ${interpreter} on ${this.request.arch}`, {
      hint: "is the executable built for glibc and this architecture? musl binaries need a different base",
    });
  }

  /** What the executable opens at run time: a soname like NEEDED, or the libraries of the first package the suite has. */
  async addRuntimeLibrary(need: RuntimeLibrary): Promise<void> {
    if ("soname" in need) return this.addSoname(need.soname);
    if (!("anyOf" in need)) return; // zoneinfo: see tzdata
    const name = need.anyOf.find((n) => this.source.lookup(n));
    if (!name) throw new AotpackError(`none of ${need.anyOf.join(", ")} (${need.purpose}) is in the ${this.request.arch} index`);
    const tree = await this.#requireTree(name, need.purpose);
    const libs = [...tree.entries.values()]
      .filter((e) => this.#libDirs.includes(posix.dirname(e.path)))
      .filter((e) => need.sonamePrefixes.some((p) => posix.basename(e.path).startsWith(p) && /\.so\.\d+$/.test(posix.basename(e.path))))
      .map((e) => e.path)
      .sort();
    if (libs.length === 0) throw new AotpackError(`${name} ships no ${need.sonamePrefixes.join(" or ")} library (${need.purpose})`);
    for (const path of libs) await this.addPath(tree, path);
  }

  /** /etc/ssl/certs/ca-certificates.crt, built as update-ca-certificates would: the Mozilla certs, sorted, concatenated. */
  async addCaBundle(): Promise<void> {
    const tree = await this.#requireTree("ca-certificates", "CA certificates");
    const certs = [...tree.entries.values()]
      .filter((e) => e.type === "file" && e.path.startsWith("usr/share/ca-certificates/mozilla/") && e.path.endsWith(".crt"))
      .map((e) => e.path)
      .sort();
    if (certs.length === 0) throw new AotpackError(`ca-certificates ${tree.record.version} ships no Mozilla certificates`);
    const parts: Buffer[] = [];
    for (const p of certs) {
      const pem = await readFile(join(tree.root, p));
      parts.push(pem, ...(pem.at(-1) === 0x0a ? [] : [Buffer.from("\n")]));
    }
    this.#pick("etc/ssl/certs/ca-certificates.crt", { path: "/etc/ssl/certs/ca-certificates.crt", type: "file", content: Buffer.concat(parts), mode: 0o644 }, tree);
  }

  /**
   * Zoneinfo, without the leap-second `right/` copies that would double its size, and without zic's
   * text sources (tzdata.zi, leapseconds, leap-seconds.list): readers (glibc, .NET's TimeZoneInfo,
   * ICU) open the compiled zone files and the *.tab lists, never those.
   */
  async addZoneinfo(): Promise<void> {
    const tree = await this.#requireTree("tzdata", "time zones");
    for (const e of tree.entries.values()) {
      if (!e.path.startsWith("usr/share/zoneinfo/") || e.path.startsWith("usr/share/zoneinfo/right/")) continue;
      if (ZIC_SOURCES.has(e.path)) continue;
      if (e.type === "symlink" && resolveLinkTarget(e.path, e.linkname ?? "")?.startsWith("usr/share/zoneinfo/right/")) continue;
      if (this.#dangles(tree, e)) continue;
      await this.#addEntry(tree, e, 0);
    }
  }

  /** Every kept file of an explicitly requested package (not only a slice), plus what its ELF files need. */
  async addWholePackage(name: string): Promise<void> {
    const tree = await this.#requireTree(name, "extra base package");
    this.#use(tree);
    for (const e of [...tree.entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      if (e.type === "file" && !e.extracted) continue;
      if (e.type === "directory" || this.#dangles(tree, e)) continue; // parents come with their files
      await this.#addEntry(tree, e, 0);
    }
  }

  /** os-release and debian_version (Trivy needs it to name the OS) of the suite, from base-files (usr/lib/os-release, with /etc/os-release → it). */
  async addOsRelease(): Promise<void> {
    const tree = await this.#requireTree("base-files", "os-release");
    await this.addPath(tree, "usr/lib/os-release");
    await this.addPath(tree, "etc/debian_version");
    this.#pick("etc/os-release", { path: "/etc/os-release", type: "symlink", linkname: "../usr/lib/os-release" }, tree);
  }

  /**
   * usr/share/doc/PKG/copyright of every package we took files from (license compliance).
   * Some doc dirs are symlinks to another package's (libstdc++6 → gcc-12-base); that package
   * is then one of the Depends, and we take its copyright file too.
   */
  async addCopyrights(): Promise<void> {
    for (const name of [...this.#used.keys()].sort()) {
      const tree = await this.#requireTree(name, "copyright");
      const dir = `usr/share/doc/${name}`;
      const dirEntry = tree.entries.get(dir);
      if (tree.entries.get(`${dir}/copyright`)?.extracted) {
        await this.addPath(tree, `${dir}/copyright`);
      } else if (dirEntry?.type === "symlink") {
        const target = resolveLinkTarget(dir, dirEntry.linkname ?? "");
        if (!target) continue;
        for (const group of tree.record.depends) {
          for (const dep of group) {
            const depTree = await this.#treeOf(dep);
            if (depTree?.entries.get(`${target}/copyright`)?.extracted) {
              this.#pick(dir, { path: `/${dir}`, type: "symlink", linkname: posix.relative(posix.dirname(dir), target) }, tree);
              await this.addPath(depTree, `${target}/copyright`);
            }
          }
        }
      }
    }
  }

  async resolve(): Promise<SlicedFiles> {
    const { elf, caCertificates, tzdata, extraPackages } = this.request;
    if (elf?.interpreter) await this.addInterpreter(elf.interpreter);
    for (const soname of elf?.needed ?? []) await this.addSoname(soname);
    for (const name of extraPackages) await this.addWholePackage(name);
    for (const need of this.request.runtimeLibraries ?? []) await this.addRuntimeLibrary(need);
    if (caCertificates) await this.addCaBundle();
    if (tzdata) await this.addZoneinfo();
    await this.addOsRelease();
    await this.addCopyrights();
    return {
      entries: [...this.#picked.values()].map((p) => p.entry).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
      packages: [...this.#used.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    };
  }
}
