/**
 * Independent readers of our SBOM attestation. A Hono app (real npm packages, installed with
 * `npm ci` from its committed lockfile) is built for both platforms; the SPDX statement is taken
 * out of each attestation layer by hand and given to Trivy's SBOM decoder, which must list the
 * bundled npm packages (names + versions from the lockfile), the runtime, and the base's Debian
 * packages under the right distro, the same ones Trivy finds in the image's own files.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, REPO_ROOT } from "../../test/support/cli.ts";
import { runOk, tempDir } from "../../test/support/tools.ts";
import { requireTrivy, trivyRootfs, trivySbom } from "../../test/support/trivy.ts";
import { blobJson, layoutBlobs, readLayoutIndex, readStatement, type Desc } from "../../test/support/attestations.ts";
import { debianMirrorReachable, unavailable } from "../base/testing/fixtures.ts";

const SPDX = "https://spdx.dev/Document";

test("Trivy reads the SPDX attestation of a Hono app: npm packages from the lockfile, Debian packages with the distro", { timeout: 900_000 }, async (t) => {
  if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
  const trivy = requireTrivy(t);
  if (!trivy) return;
  const work = await tempDir(t, "aotpack-readers-");
  const project = join(work, "hono-static");
  await cp(join(REPO_ROOT, "test/e2e/apps/hono-static"), project, { recursive: true });
  const npm = spawnSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: project, encoding: "utf8" });
  assert.equal(npm.status, 0, `npm ci: ${npm.stderr}`);
  const lock = JSON.parse(await readFile(join(project, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
  const layout = join(work, "layout");
  const built = await runCli(["build", project, "--platform", "linux/amd64,linux/arm64", "-o", `oci:${layout}:x`], { env: { SOURCE_DATE_EPOCH: "0" } });
  assert.equal(built.code, 0, built.stderr);

  const read = layoutBlobs(layout);
  const index = await readLayoutIndex(layout);
  const images = index.manifests.filter((d) => d.platform?.os === "linux");
  assert.equal(images.length, 2);
  for (const image of images) {
    const arch = image.platform!.architecture;
    const att = index.manifests.find((d) => d.annotations?.["vnd.docker.reference.digest"] === image.digest)!;
    const statement = await readStatement(read, att.digest, SPDX);
    assert.equal(`sha256:${statement.subject[0]!.digest.sha256}`, image.digest);
    const file = join(work, `${arch}.spdx.json`);
    await writeFile(file, JSON.stringify(statement.predicate));
    const seen = await trivySbom(trivy, file, join(work, "trivy-db"));

    // npm: what the bundler took, at the lockfile's versions, and Bun's runtime package.
    const lang = seen.results.filter((r) => r.class === "lang-pkgs");
    assert.deepEqual(lang.map((r) => r.type), ["npm"], JSON.stringify(seen.results));
    const npmSeen = lang[0]!.packages.map((p) => `${p.name}@${p.version}`).sort();
    const runtime = arch === "amd64" ? "@oven/bun-linux-x64" : "@oven/bun-linux-aarch64";
    assert.deepEqual(npmSeen, [`@hono/node-server@${lock.packages["node_modules/@hono/node-server"]!.version}`, `${runtime}@1.4.5`, `hono@${lock.packages["node_modules/hono"]!.version}`]);

    // Debian: the distro, and the very packages Trivy finds in the image's own layers.
    assert.deepEqual(seen.os, { Family: "debian", Name: "12" });
    const os = seen.results.filter((r) => r.class === "os-pkgs");
    assert.deepEqual(os.map((r) => r.type), ["debian"]);
    const rootfs = join(work, `rootfs-${arch}`);
    await mkdir(rootfs);
    for (const l of (await blobJson<{ layers: Desc[] }>(read, image.digest)).layers) await runOk("tar", ["-xzf", join(layout, "blobs/sha256", l.digest.slice(7)), "-C", rootfs]);
    const scan = await trivyRootfs(trivy, rootfs, join(work, "trivy-cache"));
    const inImage = scan.packages.filter((c) => c.purl?.startsWith("pkg:deb/")).map((c) => `${c.name}@${c.version}`).sort();
    assert.ok(inImage.some((p) => p.startsWith("libc6@")));
    assert.deepEqual(os[0]!.packages.map((p) => `${p.name}@${p.version}`).sort(), inImage);
  }
});
