/**
 * A compiler's run-time libraries (Artifact.runtimeLibraries: dlopen'd OpenSSL, ICU, zoneinfo)
 * taken from the real Debian mirror (cached) by suite: the package names differ between
 * bookworm and trixie, the base must pick the one the suite has.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { dotnetRuntimeLibraries } from "../compile/dotnet-aot.ts";
import { parsePlatform } from "../oci/platform.ts";
import { resolveBase } from "./index.ts";
import { REAL_MIRROR, debianMirrorReachable, extractLayer } from "./testing/fixtures.ts";
import { unavailable } from "../../test/support/index.ts";

const ELF = { class: 64 as const, machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6"], static: false };

async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    out.push(`${prefix}/${d.name}`);
    if (d.isDirectory()) out.push(...(await files(join(dir, d.name), `${prefix}/${d.name}`)));
  }
  return out;
}

describe("runtime libraries from Debian, by suite", () => {
  const cases = [
    { suite: "bookworm", ssl: "libssl3", icu: "libicu72", icuSo: "libicuuc.so.72" },
    { suite: "trixie", ssl: "libssl3t64", icu: "libicu76", icuSo: "libicuuc.so.76" },
  ];
  for (const c of cases) {
    test(`${c.suite}: OpenSSL (${c.ssl}), ICU (${c.icu}) and zoneinfo without right/`, { timeout: 900_000 }, async (t) => {
      if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
      const work = await mkdtemp(join(tmpdir(), `aotpack-runtime-libs-${c.suite}-`));
      t.after(() => rm(work, { recursive: true, force: true }));
      const runtimeLibraries = [
        { id: "openssl" as const, purpose: "OpenSSL", soname: "libssl.so.3" },
        { id: "icu" as const, purpose: "ICU", anyOf: ["libicu76", "libicu74", "libicu72"], sonamePrefixes: ["libicuuc.so.", "libicui18n.so."] },
        { id: "tzdata" as const, purpose: "time zones", zoneinfo: true as const },
      ];
      const base = await resolveBase({ kind: "deb", suite: c.suite }, parsePlatform("linux/amd64"), { elf: ELF, caCertificates: false, runtimeLibraries }, {
        mirror: REAL_MIRROR,
        blobDir: join(work, "blobs"),
      });
      const names = base.summary.packages.map((p) => p.name);
      for (const pkg of [c.ssl, c.icu, "tzdata"]) assert.ok(names.includes(pkg), `${pkg} in ${names.join(", ")}`);
      const rootfs = join(work, "rootfs");
      await extractLayer((await base.image.layers())[0]!, rootfs);
      const paths = await files(rootfs);
      const lib = "/usr/lib/x86_64-linux-gnu";
      for (const so of ["libssl.so.3", "libcrypto.so.3", c.icuSo, c.icuSo.replace("uc", "data")]) assert.ok(paths.includes(`${lib}/${so}`), `${so} (or its NEEDED) is in the base`);
      assert.ok(paths.includes("/usr/share/zoneinfo/Asia/Tokyo"));
      assert.ok(!paths.some((p) => p.startsWith("/usr/share/zoneinfo/right/")), "no leap-second duplicates");
      assert.ok(paths.includes("/usr/share/zoneinfo/zone1970.tab"), "the zone lists readers enumerate stay");
      for (const zic of ["tzdata.zi", "leapseconds", "leap-seconds.list"]) assert.ok(!paths.includes(`/usr/share/zoneinfo/${zic}`), `zic's ${zic} is not shipped`);
      assert.ok(!paths.some((p) => /libicu(io|test|tu)\.so/.test(p)), "only the ICU libraries .NET opens");
    });
  }

  test("a .NET executable declares OpenSSL only when the crypto shim is linked in, ICU unless invariant, zoneinfo always", async (t) => {
    const work = await mkdtemp(join(tmpdir(), "aotpack-runtime-libs-decl-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    const { writeFile } = await import("node:fs/promises");
    const plain = join(work, "plain");
    const crypto = join(work, "crypto");
    await writeFile(plain, Buffer.from("\x7fELF no shim here"));
    await writeFile(crypto, Buffer.from("\x7fELF ... libssl.so ... CryptoNative_"));
    const purposes = async (exe: string, invariantGlobalization: boolean) => (await dotnetRuntimeLibraries(exe, { invariantGlobalization })).map((l) => l.purpose);
    assert.deepEqual(await purposes(plain, true), ["time zones (TimeZoneInfo, TZ)"]);
    assert.deepEqual(await purposes(crypto, false), ["OpenSSL (System.Security.Cryptography)", "ICU (globalization)", "time zones (TimeZoneInfo, TZ)"]);
  });
});
