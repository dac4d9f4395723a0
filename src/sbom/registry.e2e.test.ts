/**
 * Attestations pushed to a real registry (Debian's docker-registry 2.8, no referrers API):
 * `aotpack build -o registry:…` lists each attestation under its image's referrers tag
 * (`sha256-<hex>`), once however often it pushes; `aotpack sbom` / `inspect` of a platform image
 * named by digest find the SBOM through that tag; skopeo treats the tag as an ordinary one; and
 * `docker pull` of the index picks the amd64 image, never an attestation, and runs it; so
 * does our own `verify`, for both platforms.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, REPO_ROOT } from "../../test/support/cli.ts";
import { startDockerd } from "../../test/support/dockerd.ts";
import { freePort, startRegistry, type TestRegistry } from "../../test/support/registry.ts";
import { requireRoot, requireTool, runOk, tempDir } from "../../test/support/tools.ts";
import { blobJson, readStatement, type BlobReader, type Desc } from "../../test/support/attestations.ts";

const fixture = join(REPO_ROOT, "test/fixtures/hello-server");
const INDEX = "application/vnd.oci.image.index.v1+json";

/** Blobs and manifests straight from the registry's HTTP API: no aotpack reader involved. */
function registryBlobs(registry: TestRegistry, repo: string): BlobReader {
  return async (digest) => {
    let res = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`);
    if (res.status === 404) res = await fetch(`${registry.url}/v2/${repo}/manifests/${digest}`, { headers: { Accept: `${INDEX}, application/vnd.oci.image.manifest.v1+json` } });
    assert.equal(res.status, 200, `GET ${digest}`);
    return Buffer.from(await res.arrayBuffer());
  };
}

async function manifestByRef(registry: TestRegistry, repo: string, ref: string): Promise<{ status: number; mediaType: string | null; json?: { manifests: Desc[] } }> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${ref}`, { headers: { Accept: `${INDEX}, application/vnd.oci.image.manifest.v1+json` } });
  const body = await res.text();
  return { status: res.status, mediaType: res.headers.get("content-type"), ...(res.ok ? { json: JSON.parse(body) as { manifests: Desc[] } } : {}) };
}

async function buildAndPush(ref: string): Promise<{ digest: string; platforms: { platform: string; digest: string }[] }> {
  const r = await runCli(["build", fixture, "--platform", "linux/amd64,linux/arm64", "-o", `registry:${ref}`, "--json"], { env: { SOURCE_DATE_EPOCH: "0" } });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { digest: string; platforms: { platform: string; digest: string }[] };
}

test("push without a referrers API: the sha256-<hex> tag lists the attestation, once; sbom and inspect find it; skopeo copies it as a tag", { timeout: 900_000 }, async (t) => {
  for (const tool of ["docker-registry", "skopeo"]) if (!requireTool(t, tool)) return;
  const dir = await tempDir(t, "aotpack-referrers-e2e-");
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const repo = "hello/server";
  const built = await buildAndPush(`${registry.host}/${repo}:v1`);
  const index = (await manifestByRef(registry, repo, "v1")).json!.manifests;
  assert.equal((await fetch(`${registry.url}/v2/${repo}/referrers/${built.platforms[0]!.digest}`)).status, 404, "docker-registry 2.8 has no referrers API");

  const check = async () => {
    for (const p of built.platforms) {
      const attestation = index.find((d) => d.annotations?.["vnd.docker.reference.digest"] === p.digest)!;
      const tag = await manifestByRef(registry, repo, `sha256-${p.digest.slice(7)}`);
      assert.equal(tag.status, 200, `referrers tag of ${p.platform}`);
      assert.equal(tag.mediaType, INDEX);
      assert.deepEqual(tag.json!.manifests.map((d) => d.digest), [attestation.digest], `${p.platform}: the attestation, once`);
      // What the tag lists is our attestation: its SPDX statement names this image.
      const spdx = await readStatement(registryBlobs(registry, repo), attestation.digest, "https://spdx.dev/Document");
      assert.equal(`sha256:${spdx.subject[0]!.digest.sha256}`, p.digest);
    }
  };
  await check();
  // The same build pushed again (same digests) and under another tag: no duplicates.
  const again = await buildAndPush(`${registry.host}/${repo}:v1`);
  assert.equal(again.digest, built.digest);
  await buildAndPush(`${registry.host}/${repo}:v2`);
  await check();

  // A platform image by digest has no index around it: sbom and inspect find its attestation through the tag.
  const amd64 = built.platforms.find((p) => p.platform === "linux/amd64")!;
  const byDigest = `registry:${registry.host}/${repo}@${amd64.digest}`;
  const sbom = await runCli(["sbom", byDigest]);
  assert.equal(sbom.code, 0, sbom.stderr);
  const doc = JSON.parse(sbom.stdout) as { spdxVersion: string; packages: { name: string; versionInfo?: string }[] };
  assert.equal(doc.spdxVersion, "SPDX-2.3");
  assert.ok(doc.packages.some((p) => p.versionInfo === amd64.digest), "the SBOM describes this image");
  const inspect = await runCli(["inspect", byDigest, "--json"]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const info = JSON.parse(inspect.stdout) as { attestations?: { subject: string; statements: { predicateType: string }[] }[] };
  assert.deepEqual(info.attestations?.map((a) => [a.subject, a.statements.map((s) => s.predicateType)]), [[amd64.digest, ["https://spdx.dev/Document", "https://slsa.dev/provenance/v1"]]]);

  // skopeo: an ordinary tag holding an index, copied whole with --all.
  const tags = JSON.parse((await runOk("skopeo", ["list-tags", "--tls-verify=false", `docker://${registry.host}/${repo}`])).stdout) as { Tags: string[] };
  assert.deepEqual(tags.Tags.sort(), [`sha256-${built.platforms[0]!.digest.slice(7)}`, `sha256-${built.platforms[1]!.digest.slice(7)}`, "v1", "v2"].sort());
  const copied = join(dir, "referrers");
  await runOk("skopeo", ["copy", "--all", "--src-tls-verify=false", `docker://${registry.host}/${repo}:sha256-${amd64.digest.slice(7)}`, `oci:${copied}:r`]);
  const raw = JSON.parse((await runOk("skopeo", ["inspect", "--raw", `oci:${copied}:r`])).stdout) as { manifests: Desc[] };
  assert.deepEqual(raw.manifests.map((d) => d.digest), (await manifestByRef(registry, repo, `sha256-${amd64.digest.slice(7)}`)).json!.manifests.map((d) => d.digest));
});

test("docker pull of the pushed index picks the amd64 image, not an attestation, and runs it", { timeout: 900_000 }, async (t) => {
  for (const tool of ["docker-registry", "dockerd"]) if (!requireTool(t, tool)) return;
  if (!requireRoot(t, "dockerd needs root")) return;
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const ref = `${registry.host}/hello/pull:v1`;
  const built = await buildAndPush(ref);
  const amd64 = built.platforms.find((p) => p.platform === "linux/amd64")!;
  const dockerd = await startDockerd({ timeoutMs: 90_000 });
  t.after(() => dockerd.stop());
  // 127.0.0.0/8 is an insecure registry to dockerd by default: plain HTTP, as our test registry speaks.
  // No --platform: docker picks by the host's platform among the index's entries.
  const pulled = await dockerd.dockerOk(["pull", ref], { timeoutMs: 300_000 });
  assert.match(pulled.stdout, new RegExp(`Digest: ${built.digest}`), "the index's digest, as pushed");
  const image = JSON.parse((await dockerd.dockerOk(["image", "inspect", ref])).stdout) as { Id: string; Architecture: string; Os: string }[];
  assert.equal(image[0]!.Architecture, "amd64");
  assert.equal(image[0]!.Os, "linux");
  // The image docker took is the amd64 manifest's: its ID is that manifest's config digest (never the attestation's).
  const manifest = await blobJson<{ config: Desc }>(registryBlobs(registry, "hello/pull"), amd64.digest);
  assert.equal(image[0]!.Id, manifest.config.digest);
  const port = await freePort();
  const id = (await dockerd.dockerOk(["run", "-d", "--network", "host", "-e", `PORT=${port}`, ref])).stdout.trim();
  try {
    const deadline = Date.now() + 30_000;
    let answer = "";
    while (Date.now() < deadline) {
      answer = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })
        .then(async (r) => `${r.status} ${await r.text()}`)
        .catch(() => "");
      if (answer) break;
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.equal(answer, "200 hello");
  } finally {
    await dockerd.docker(["rm", "-f", id]);
  }
});

test("aotpack verify of the pushed index runs the two platform images, never an attestation", { timeout: 900_000 }, async (t) => {
  for (const tool of ["docker-registry", "runc", "qemu-aarch64-static"]) if (!requireTool(t, tool)) return;
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const ref = `${registry.host}/hello/verify:v1`;
  await buildAndPush(ref);
  const v = await runCli(["verify", `registry:${ref}`, "--json"], { timeoutMs: 600_000 });
  assert.equal(v.code, 0, v.stderr);
  const report = JSON.parse(v.stdout) as { ok: boolean; platforms: { platform: string; ok: boolean }[] };
  assert.deepEqual(report.platforms.map((p) => [p.platform, p.ok]), [["linux/amd64", true], ["linux/arm64", true]]);
});

