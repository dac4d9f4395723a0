/**
 * A scanner sees the deb:bookworm base: Trivy (offline, an independent reader) names the OS from
 * base-files' /etc/debian_version and every package from /var/lib/dpkg/status.d/, on both platforms.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { readElf } from "../elf/read-elf.ts";
import { parsePlatform } from "../oci/platform.ts";
import { resolveBase } from "./index.ts";
import { REAL_MIRROR, bunBinary, debianMirrorReachable, extractLayer } from "./testing/fixtures.ts";
import { unavailable } from "../../test/support/index.ts";
import { requireTrivy, trivyRootfs } from "../../test/support/trivy.ts";

describe("deb: bases are visible to vulnerability scanners", () => {
  for (const arch of ["amd64", "arm64"] as const) {
    test(`${arch}: Trivy lists the base's Debian packages with distro and versions`, { timeout: 600_000 }, async (t) => {
      if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
      const trivy = requireTrivy(t);
      if (!trivy) return;
      const work = await mkdtemp(join(tmpdir(), `aotpack-scan-${arch}-`));
      t.after(() => rm(work, { recursive: true, force: true }));
      const elf = await readElf(await bunBinary(arch));
      const base = await resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform(`linux/${arch}`), { elf }, {
        mirror: REAL_MIRROR,
        blobDir: join(work, "blobs"),
        sourceDateEpoch: 0,
      });
      const rootfs = join(work, "rootfs");
      await extractLayer((await base.image.layers())[0]!, rootfs);
      const names = base.summary.packages.map((p) => p.name);
      assert.deepEqual((await readdir(join(rootfs, "var/lib/dpkg/status.d"))).sort(), names);
      const debianVersion = (await readFile(join(rootfs, "etc/debian_version"), "utf8")).trim();
      assert.match(debianVersion, /^12\.\d+$/);
      assert.equal(base.summary.distro, "debian-12");
      const libc = base.summary.packages.find((p) => p.name === "libc6");
      assert.equal(libc?.source, "glibc");

      const scan = await trivyRootfs(trivy, rootfs, join(work, "trivy-cache"));
      t.diagnostic(`trivy: OS ${scan.os?.name} ${scan.os?.version}; ${scan.packages.map((p) => p.purl).join(" ")}`);
      assert.equal(scan.os?.name, "debian");
      assert.equal(scan.os?.version, debianVersion);
      for (const p of base.summary.packages) {
        const purl = `pkg:deb/debian/${p.name}@${p.version}?arch=${p.architecture}&distro=debian-${debianVersion}`;
        const hit = scan.packages.find((c) => c.name === p.name);
        assert.ok(hit, `Trivy does not list ${p.name}`);
        assert.equal(hit.version, p.version);
        assert.equal(decodeURIComponent(hit.purl ?? ""), decodeURIComponent(purl));
      }
    });
  }
});
