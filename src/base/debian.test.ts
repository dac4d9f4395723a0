/**
 * deb:bookworm against the real Debian mirror (cached): for amd64 and arm64 the base built
 * from a real Bun binary's ELF facts is unpacked alone, Bun is copied in, and it runs
 * (amd64 in a chroot, arm64 under qemu-user with the rootfs's own loader).
 */
import assert from "node:assert/strict";
import { copyFile, link, mkdtemp, readFile, readdir, rm, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { readElf } from "../elf/read-elf.ts";
import { parsePlatform } from "../oci/platform.ts";
import { resolveBase, type BaseSummary } from "./index.ts";
import { readLockfile } from "./lockfile.ts";
import { MULTIARCH } from "./slices.ts";
import { BUN_VERSION, REAL_MIRROR, bunBinary, debianMirrorReachable, extractLayer, run } from "./testing/fixtures.ts";
import { unavailable } from "../../test/support/index.ts";

function sizeReport(arch: string, s: BaseSummary): string {
  const kb = (n: number | undefined) => `${((n ?? 0) / 1024).toFixed(0)} KiB`;
  return `deb:bookworm ${arch}: ${s.files} files, ${kb(s.uncompressedBytes)} uncompressed, ${kb(s.compressedBytes)} gzip; ${s.packages.map((p) => `${p.name} ${p.version}`).join(", ")}`;
}

async function placeBinary(src: string, dest: string): Promise<void> {
  await link(src, dest).catch(() => copyFile(src, dest));
}

async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const rel = `${prefix}/${d.name}`;
    out.push(rel);
    if (d.isDirectory()) out.push(...(await walk(join(dir, d.name), rel)));
  }
  return out;
}

describe("deb:bookworm base from the real Debian mirror", () => {
  for (const arch of ["amd64", "arm64"] as const) {
    test(`${arch}: a real Bun binary runs from the base and nothing else`, { timeout: 900_000 }, async (t) => {
      if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
      const runner = arch === "amd64" ? "/usr/sbin/chroot" : "/usr/bin/qemu-aarch64-static";
      if ((await stat(runner).catch(() => undefined)) === undefined) return unavailable(t, `${runner} is not installed`);
      if (arch === "amd64" && process.getuid?.() !== 0) return unavailable(t, "chroot needs root");

      const bun = await bunBinary(arch);
      const elf = await readElf(bun);
      const work = await mkdtemp(join(tmpdir(), `aotpack-base-${arch}-`));
      t.after(() => rm(work, { recursive: true, force: true }));
      const lockfile = join(work, "aotpack.lock");
      const base = await resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform(`linux/${arch}`), { elf }, {
        mirror: REAL_MIRROR,
        lockfile,
        blobDir: join(work, "blobs"),
        sourceDateEpoch: 0,
      });
      t.diagnostic(sizeReport(arch, base.summary));

      // Only what Bun needs: glibc's loader and libs, the CA bundle, os-release, copyrights.
      assert.deepEqual(base.summary.packages.map((p) => p.name), ["base-files", "ca-certificates", "libc6"]);
      assert.ok(base.summary.compressedBytes < 2 * 1024 * 1024, `base is ${base.summary.compressedBytes} bytes compressed, goal < 2 MiB`);
      assert.equal(base.user, "65532:65532");
      const cfg = await base.image.configFile();
      assert.equal(cfg.architecture, arch);
      assert.equal(cfg.config.User, "65532:65532");
      assert.ok(cfg.config.Env?.includes("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"));

      const layers = await base.image.layers();
      assert.equal(layers.length, 1);
      const rootfs = join(work, "rootfs");
      await extractLayer(layers[0]!, rootfs);
      const paths = await walk(rootfs);
      const docs = paths.filter((p) => p.startsWith("/usr/share/doc/"));
      assert.ok(docs.length > 0 && docs.every((p) => /^\/usr\/share\/doc\/[^/]+(\/copyright)?$/.test(p)), `only copyright files under /usr/share/doc: ${docs.join(" ")}`);
      assert.ok(!paths.some((p) => p.includes("/gconv") || p.includes("/locale")), "no gconv, no locales");
      assert.equal((await stat(join(rootfs, "tmp"))).mode & 0o7777, 0o1777);
      assert.equal((await stat(join(rootfs, "home/nonroot"))).uid, 65532);
      assert.match(await readFile(join(rootfs, "etc/passwd"), "utf8"), /^nonroot:x:65532:65532:/m);
      assert.match(await readFile(join(rootfs, "etc/os-release"), "utf8"), /VERSION_CODENAME=bookworm/);
      const bundle = await readFile(join(rootfs, "etc/ssl/certs/ca-certificates.crt"), "utf8");
      assert.ok((bundle.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length > 100, "CA bundle holds the Mozilla roots");
      // The loader path the binary names resolves through the usrmerge links.
      assert.ok((await stat(join(rootfs, elf.interpreter!))).isFile());

      await placeBinary(bun, join(rootfs, "bun"));
      const exec = () => (arch === "amd64" ? run(runner, [rootfs, "/bun", "--version"]) : run(runner, ["-L", rootfs, join(rootfs, "bun"), "--version"]));
      const ok = await exec();
      assert.equal(ok.code, 0, `bun --version failed in the ${arch} base: ${ok.stderr}`);
      assert.equal(ok.stdout.trim(), BUN_VERSION);

      // Control: without one NEEDED library the same run fails, so the host's libraries are not leaking in.
      await unlink(join(rootfs, "usr/lib", MULTIARCH[arch]!, "libm.so.6"));
      const broken = await exec();
      assert.notEqual(broken.code, 0);
      assert.match(broken.stderr, /libm\.so\.6/);

      const lock = await readLockfile(lockfile);
      assert.equal(lock?.debian?.suite, "bookworm");
      assert.deepEqual(lock?.debian.architectures[arch]?.map((p) => p.name), ["base-files", "ca-certificates", "libc6"]);
      assert.ok(lock?.debian.architectures[arch]?.every((p) => /^[0-9a-f]{64}$/.test(p.sha256) && p.filename.startsWith("pool/")));
    });
  }

  test("C++ binaries get libstdc++ and libgcc (copyright via gcc-12-base); tzdata on request", { timeout: 600_000 }, async (t) => {
    if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
    const work = await mkdtemp(join(tmpdir(), "aotpack-base-cxx-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    // What a Node-like C++ binary asks for; libgcc_s comes only through libstdc++'s own NEEDED.
    const elf = { class: 64 as const, machine: "aarch64", interpreter: "/lib/ld-linux-aarch64.so.1", needed: ["libstdc++.so.6", "libz.so.1", "libc.so.6"], static: false };
    const base = await resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform("linux/arm64"), { elf, tzdata: true, caCertificates: false }, {
      mirror: REAL_MIRROR,
      blobDir: join(work, "blobs"),
    });
    t.diagnostic(sizeReport("arm64 (C++ + tzdata)", base.summary));
    const names = base.summary.packages.map((p) => p.name);
    assert.deepEqual(names, ["base-files", "gcc-12-base", "libc6", "libgcc-s1", "libstdc++6", "tzdata", "zlib1g"]);
    const rootfs = join(work, "rootfs");
    await extractLayer((await base.image.layers())[0]!, rootfs);
    const paths = await walk(rootfs);
    assert.ok(paths.includes("/usr/lib/aarch64-linux-gnu/libstdc++.so.6"));
    assert.ok(paths.includes("/usr/lib/aarch64-linux-gnu/libgcc_s.so.1"), "libstdc++'s own NEEDED is followed");
    assert.ok(paths.includes("/usr/share/doc/gcc-12-base/copyright"));
    assert.ok((await readFile(join(rootfs, "usr/share/doc/libstdc++6/copyright"), "utf8")).length > 0, "symlinked doc dir resolves");
    assert.ok((await stat(join(rootfs, "usr/share/zoneinfo/Europe/Paris"))).isFile());
    assert.ok(!paths.some((p) => p.startsWith("/usr/share/zoneinfo/right/")));
    assert.ok(!paths.includes("/etc/ssl/certs/ca-certificates.crt"), "no CA bundle when not asked");
  });

  test("a whole extra package with plugins: libc6's gconv modules bring their $ORIGIN siblings", { timeout: 600_000 }, async (t) => {
    if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
    const work = await mkdtemp(join(tmpdir(), "aotpack-base-whole-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    const base = await resolveBase({ kind: "deb", suite: "bookworm", packages: ["libc6"] }, parsePlatform("linux/arm64"), { caCertificates: false }, {
      mirror: REAL_MIRROR,
      blobDir: join(work, "blobs"),
    });
    assert.deepEqual(base.summary.packages.map((p) => p.name), ["base-files", "libc6"]);
    const rootfs = join(work, "rootfs");
    await extractLayer((await base.image.layers())[0]!, rootfs);
    const paths = await walk(rootfs);
    // GBK.so is linked against libGB.so, which lives beside it in gconv/, not on the library path.
    assert.ok(paths.includes("/usr/lib/aarch64-linux-gnu/gconv/GBK.so"));
    assert.ok(paths.includes("/usr/lib/aarch64-linux-gnu/gconv/libGB.so"));
  });

  test("the same inputs give the same base layer (reproducible)", { timeout: 600_000 }, async (t) => {
    if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
    const elf = await readElf(await bunBinary("amd64"));
    const work = await mkdtemp(join(tmpdir(), "aotpack-base-repro-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    const build = async (n: number) => {
      const base = await resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform("linux/amd64"), { elf }, {
        mirror: REAL_MIRROR,
        blobDir: join(work, `blobs${n}`),
        lockfile: join(work, "aotpack.lock"),
      });
      return (await base.image.layers())[0]!.digest();
    };
    assert.equal(await build(1), await build(2));
  });
});
