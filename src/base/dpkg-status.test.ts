/** status.d and /etc/debian_version: what scanners read to see the OS packages of a deb: base. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { debianDistro, dpkgStatusEntries, dpkgStatusText } from "./dpkg-status.ts";
import type { PackageRecord } from "./packages-index.ts";

const libc6: PackageRecord = {
  name: "libc6",
  version: "2.36-9+deb12u13",
  architecture: "arm64",
  filename: "pool/main/g/glibc/libc6_2.36-9+deb12u13_arm64.deb",
  size: 1,
  sha256: "a".repeat(64),
  depends: [],
  control: {
    source: "glibc",
    maintainer: "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
    "installed-size": "12000",
    section: "libs",
    priority: "optional",
    "multi-arch": "same",
    homepage: "https://www.gnu.org/software/libc/libc.html",
    depends: "libgcc-s1",
    description: "GNU C Library: Shared libraries",
  },
};

describe("dpkg status.d", () => {
  test("one file per package with distroless's fields, in dpkg's order", () => {
    const [entry] = dpkgStatusEntries([libc6]);
    assert.equal(entry?.path, "/var/lib/dpkg/status.d/libc6");
    assert.equal(entry?.mode, 0o644);
    assert.equal(
      entry?.content,
      "Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12000\n" +
        "Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nArchitecture: arm64\nMulti-Arch: same\nSource: glibc\n" +
        "Version: 2.36-9+deb12u13\nDepends: libgcc-s1\nDescription: GNU C Library: Shared libraries\n" +
        "Homepage: https://www.gnu.org/software/libc/libc.html\n",
    );
  });
  test("sorted by name, so the layer is the same whatever order the resolver found them", () => {
    const a = { ...libc6, name: "zlib1g" };
    assert.deepEqual(dpkgStatusEntries([a, libc6]).map((e) => e.path), ["/var/lib/dpkg/status.d/libc6", "/var/lib/dpkg/status.d/zlib1g"]);
  });
  test("a hostile index: a name that is a path, or a value that starts a new stanza, is refused", () => {
    assert.throws(() => dpkgStatusEntries([{ ...libc6, name: "../../etc/passwd" }]), /package name/);
    assert.throws(() => dpkgStatusText({ ...libc6, version: "1\n\nPackage: evil" }), /control characters/);
    assert.throws(() => dpkgStatusText({ ...libc6, control: { ...libc6.control, source: "x\nStatus: deinstall" } }), /control characters/);
  });
  test("the purl distro from base-files' /etc/debian_version", () => {
    assert.equal(debianDistro("12.12\n"), "debian-12");
    assert.equal(debianDistro("forky/sid\n"), "debian-forky");
    assert.throws(() => debianDistro("12\n&x=1"), /debian_version/);
  });
});
