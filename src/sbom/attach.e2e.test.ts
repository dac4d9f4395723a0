/**
 * The Todo API, both platforms, as a user builds it: each platform image gets an attestation
 * manifest Docker's way; the SBOM names the base's Debian packages as Trivy (an independent
 * scanner) sees them in the image itself, and the npm runtime; skopeo picks the platform image,
 * never the attestation; a rebuild gives the same attestation digests.
 */
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, REPO_ROOT } from "../../test/support/cli.ts";
import { requireTool, runOk, tempDir } from "../../test/support/tools.ts";
import { requireTrivy, trivyRootfs } from "../../test/support/trivy.ts";
import { blobJson, layoutBlobs, readLayoutIndex as readIndex, type Desc } from "../../test/support/attestations.ts";
import { debianMirrorReachable } from "../base/testing/fixtures.ts";
import { unavailable } from "../../test/support/index.ts";

const json = <T>(layout: string, digest: string): Promise<T> => blobJson<T>(layoutBlobs(layout), digest);

describe("attestations on the Todo API image", () => {
  test("SBOM + provenance per platform, read by hand, checked against Trivy; skopeo ignores them; reproducible", { timeout: 900_000 }, async (t) => {
    if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
    const trivy = requireTrivy(t);
    const skopeo = requireTool(t, "skopeo");
    if (!trivy || !skopeo) return;
    const work = await tempDir(t, "aotpack-attest-");
    const layout = join(work, "layout");
    const args = (out: string) => ["build", join(REPO_ROOT, "examples/todo-api"), "--platform", "linux/amd64,linux/arm64", "--lockfile", join(work, "aotpack.lock"), "-o", `oci:${out}:todo`];
    const dockerArchive = join(work, "todo-amd64.tar");
    const first = await runCli([...args(layout), "-o", `docker-archive:${dockerArchive}`, "--docker-platform", "linux/amd64"], { env: { SOURCE_DATE_EPOCH: "0" } });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /linux\/arm64\s+attestations \(SBOM, provenance\)\s+[\d.]+ KiB/, "the size table reports the attestation bytes in their own row");

    const index = await readIndex(layout);
    const images = index.manifests.filter((d) => d.platform?.os === "linux");
    const attestations = index.manifests.filter((d) => d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest");
    assert.deepEqual(images.map((d) => d.platform?.architecture), ["amd64", "arm64"]);
    assert.equal(attestations.length, 2);
    for (const image of images) {
      const arch = image.platform!.architecture;
      const att = attestations.find((a) => a.annotations?.["vnd.docker.reference.digest"] === image.digest);
      assert.ok(att, `no attestation for ${arch}`);
      assert.deepEqual(att.platform, { os: "unknown", architecture: "unknown" });
      const manifest = await json<{ subject?: Desc; layers: Desc[] }>(layout, att.digest);
      assert.equal(manifest.subject?.digest, image.digest);
      const byType = new Map(manifest.layers.map((l) => [l.annotations?.["in-toto.io/predicate-type"], l]));
      assert.ok(manifest.layers.every((l) => l.mediaType === "application/vnd.in-toto+json"));
      const spdx = await json<{ subject: { digest: { sha256: string } }[]; predicate: { spdxVersion: string; packages: { name: string; versionInfo: string; externalRefs?: { referenceLocator: string }[] }[] } }>(
        layout,
        byType.get("https://spdx.dev/Document")!.digest,
      );
      assert.equal(`sha256:${spdx.subject[0]!.digest.sha256}`, image.digest);
      assert.equal(spdx.predicate.spdxVersion, "SPDX-2.3");
      const purls = spdx.predicate.packages.flatMap((p) => p.externalRefs?.map((r) => decodeURIComponent(r.referenceLocator)) ?? []);
      const runtimePkg = arch === "amd64" ? "@oven/bun-linux-x64" : "@oven/bun-linux-aarch64";
      assert.ok(purls.includes(`pkg:npm/${runtimePkg}@1.4.5`), `the runtime's npm package in ${purls.join(" ")}`);
      const provenance = await json<{ predicate: { buildDefinition: { externalParameters: { platform: string }; resolvedDependencies: { uri: string }[] } } }>(
        layout,
        byType.get("https://slsa.dev/provenance/v1")!.digest,
      );
      assert.equal(provenance.predicate.buildDefinition.externalParameters.platform, `linux/${arch}`);

      // Trivy, on the image's own unpacked layers, must see exactly the Debian packages the SBOM names.
      const rootfs = join(work, `rootfs-${arch}`);
      await mkdir(rootfs);
      const imageManifest = await json<{ layers: Desc[] }>(layout, image.digest);
      for (const l of imageManifest.layers) await runOk("tar", ["-xzf", join(layout, "blobs/sha256", l.digest.slice(7)), "-C", rootfs]);
      const scan = await trivyRootfs(trivy, rootfs, join(work, "trivy-cache"));
      assert.equal(scan.os?.name, "debian");
      const debs = purls.filter((p) => p.startsWith("pkg:deb/"));
      assert.ok(debs.some((p) => p.startsWith("pkg:deb/debian/libc6@")));
      const seen = scan.packages.filter((c) => c.purl?.startsWith("pkg:deb/")).map((c) => decodeURIComponent(c.purl!).replace(/distro=debian-12\.\d+$/, "distro=debian-12"));
      assert.deepEqual(seen.sort(), debs.sort(), "Trivy's Debian packages (distro, versions, arch) are the SBOM's");
    }

    // docker-archive has no index: the amd64 image's SBOM is written beside it.
    const beside = JSON.parse(await readFile(`${dockerArchive}.sbom.json`, "utf8")) as { spdxVersion: string; packages: { name: string }[] };
    assert.equal(beside.spdxVersion, "SPDX-2.3");
    assert.ok(beside.packages.some((p) => p.name === "@oven/bun-linux-x64"));

    // A runtime that picks by platform takes the arm64 image, not an attestation.
    const archive = join(work, "arm64.tar");
    await runOk(skopeo, ["--override-os", "linux", "--override-arch", "arm64", "copy", `oci:${layout}:todo`, `docker-archive:${archive}:todo:arm64`]);
    const listed = (await runOk("tar", ["-tf", archive])).stdout;
    assert.ok(listed.includes("manifest.json"));
    const sbom = await runCli(["sbom", `oci:${layout}:todo`, "--platform", "linux/arm64"]);
    assert.equal(sbom.code, 0, sbom.stderr);
    assert.match(sbom.stdout, /pkg:npm\/%40oven\/bun-linux-aarch64@1\.4\.5/);

    // Same inputs, same attestation digests (and so the same index).
    const again = join(work, "again");
    const second = await runCli(args(again), { env: { SOURCE_DATE_EPOCH: "0" } });
    assert.equal(second.code, 0, second.stderr);
    const index2 = await readIndex(again);
    assert.deepEqual(index2.manifests.map((d) => d.digest), index.manifests.map((d) => d.digest));
    assert.equal(index2.digest, index.digest);
  });
});
