/**
 * The referrers tag fallback (distribution-spec 1.1): against Debian's docker-registry, which has
 * no referrers API, a push of an index with attestations lists each attestation under its
 * image's `sha256-<hex>` tag, once; against a registry that answers OCI-Subject, no tag is written.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { REGISTRY_BIN, requireTools, startRegistry, type TestRegistry } from "../../test/support/registry.ts";
import { sha256 } from "../oci/digest.ts";
import type { ImageIndex } from "../oci/interfaces.ts";
import { newIndex } from "../oci/mutate.ts";
import { Readable } from "node:stream";
import { attestationAnnotations, attestationImage, IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, statement, UNKNOWN_PLATFORM } from "../sbom/attestation.ts";
import { SPDX_PREDICATE } from "../sbom/spdx.ts";
import { MediaType } from "../oci/media-types.ts";
import { runCli } from "../../test/support/cli.ts";
import { AotpackError } from "../errors.ts";
import { RegistryClient } from "./client.ts";
import { push } from "./publisher.ts";
import { listReferrers, referrersTag, remoteReferrers } from "./referrers.ts";
import { AMD64, twoPlatformIndex } from "./testing/fixtures.ts";

/** The two-platform fixture with one attestation manifest per image, as a build attaches them. */
async function indexWithAttestations(blobDir: string, seed: string): Promise<ImageIndex> {
  const base = await twoPlatformIndex(blobDir, { seed, layerBytes: 1000 });
  const entries = [];
  for (const d of (await base.indexManifest()).manifests) {
    const image = await base.image(d.digest);
    entries.push({ image, platform: d.platform! });
    const att = attestationImage(d, [statement("pkg:oci/x", d.digest, "https://spdx.dev/Document", { spdxVersion: "SPDX-2.3", seed })]);
    entries.push({ image: att, platform: UNKNOWN_PLATFORM, annotations: attestationAnnotations(d.digest) });
  }
  return newIndex(entries);
}

async function getJson(url: string, accept: string): Promise<{ status: number; mediaType: string | null; body: { manifests?: { digest: string; artifactType?: string; mediaType: string }[] } | undefined }> {
  const res = await fetch(url, { headers: { Accept: accept } });
  const text = await res.text();
  return { status: res.status, mediaType: res.headers.get("content-type"), body: res.ok ? (JSON.parse(text) as never) : undefined };
}

/** A real docker-registry, a temp dir and a client, all stopped/removed after the test; undefined when skipped. */
async function withRegistry(t: TestContext): Promise<{ registry: TestRegistry; dir: string; client: RegistryClient } | undefined> {
  if (!requireTools(t, [REGISTRY_BIN])) return undefined;
  const registry = await startRegistry();
  const dir = await mkdtemp(join(tmpdir(), "aotpack-referrers-"));
  const client = new RegistryClient(registry.host);
  t.after(async () => {
    client.close();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { registry, dir, client };
}

test("referrers tag names: the spec's truncation and character rules", () => {
  assert.equal(referrersTag(`sha256:${"a".repeat(64)}`), `sha256-${"a".repeat(64)}`);
  assert.equal(referrersTag(`sha512:${"b".repeat(128)}`), `sha512-${"b".repeat(64)}`);
  assert.equal(
    referrersTag("test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation"),
    "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot",
  );
});

test("docker-registry 2.8 (no referrers API): the push lists each attestation under sha256-<image hex>, once, however often it runs", { timeout: 120_000 }, async (t) => {
  const env = await withRegistry(t);
  if (!env) return;
  const { registry, dir, client } = env;
  const index = await indexWithAttestations(join(dir, "blobs"), "referrers");
  await push(index, `${registry.host}/app:v1`, { client });
  const entries = (await index.indexManifest()).manifests;
  const images = entries.filter((d) => d.platform?.os === "linux");
  assert.equal(images.length, 2);
  // The registry really has no referrers API: the fallback is the only way to find them.
  assert.equal((await fetch(`${registry.url}/v2/app/referrers/${images[0]!.digest}`)).status, 404);
  for (const image of images) {
    const attestation = entries.find((d) => d.annotations?.["vnd.docker.reference.digest"] === image.digest)!;
    const tag = await getJson(`${registry.url}/v2/app/manifests/sha256-${image.digest.slice(7)}`, "application/vnd.oci.image.index.v1+json");
    assert.equal(tag.status, 200, `the referrers tag of ${image.digest}`);
    assert.equal(tag.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.deepEqual(tag.body!.manifests, [{ mediaType: attestation.mediaType, digest: attestation.digest, size: attestation.size, artifactType: "application/vnd.oci.image.config.v1+json" }]);
    assert.deepEqual((await listReferrers(client, "app", image.digest)).map((d) => d.digest), [attestation.digest]);
  }
  // Again, and to another tag: the lists do not grow.
  await push(index, `${registry.host}/app:v1`, { client });
  await push(index, `${registry.host}/app:v2`, { client });
  for (const image of images) {
    const tag = await getJson(`${registry.url}/v2/app/manifests/sha256-${image.digest.slice(7)}`, "application/vnd.oci.image.index.v1+json");
    assert.equal(tag.body!.manifests!.length, 1);
  }
  // A second, different attestation of the same image is appended beside the first.
  const other = attestationImage(images[0]!, [statement("pkg:oci/x", images[0]!.digest, "https://slsa.dev/provenance/v1", { other: true })]);
  await push(newIndex([{ image: await index.image(images[0]!.digest), platform: AMD64 }, { image: other, platform: UNKNOWN_PLATFORM, annotations: attestationAnnotations(images[0]!.digest) }]), `${registry.host}/app:v3`, { client });
  assert.equal((await listReferrers(client, "app", images[0]!.digest)).length, 2);
  assert.deepEqual(await listReferrers(client, "app", sha256("nothing refers to this")), []);
});

test("a referrers tag that names something else: the push fails with one line and the user's tag does not move", { timeout: 120_000 }, async (t) => {
  const env = await withRegistry(t);
  if (!env) return;
  const { registry, dir, client } = env;
  const index = await indexWithAttestations(join(dir, "blobs"), "squatted");
  const amd64 = (await index.indexManifest()).manifests.find((d) => d.platform?.architecture === "amd64")!;
  // Someone's image manifest sits under the tag name the spec reserves for amd64's referrers.
  await push(await index.image(amd64.digest), `${registry.host}/app:${referrersTag(amd64.digest)}`, { client });
  await assert.rejects(push(index, `${registry.host}/app:v1`, { client }), (err: Error) => err instanceof AotpackError && /app:sha256-[0-9a-f]{64} is not an image index/.test(err.message) && !err.message.includes("\n"));
  assert.equal((await fetch(`${registry.url}/v2/app/manifests/v1`, { method: "HEAD" })).status, 404, "the tag moves last, so it did not move");
  // Readers take such a tag as "no referrers" (the spec's rule), not as an error.
  assert.deepEqual(await listReferrers(client, "app", amd64.digest), []);
});

test("a registry that answers OCI-Subject keeps its own list: no referrers tag is written", { timeout: 60_000 }, async (t) => {
  const puts: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = req.url ?? "";
      if (req.method === "HEAD" && url.includes("/blobs/")) return res.writeHead(200).end();
      if (req.method === "PUT" && url.includes("/manifests/")) {
        puts.push(url.slice(url.lastIndexOf("/") + 1));
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { subject?: { digest: string } };
        return res.writeHead(201, { "Docker-Content-Digest": sha256(Buffer.concat(chunks)), ...(body.subject ? { "OCI-Subject": body.subject.digest } : {}) }).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), "aotpack-referrers-"));
  const client = new RegistryClient(`127.0.0.1:${port}`, { credentials: null });
  t.after(async () => {
    client.close();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });
  await push(await indexWithAttestations(join(dir, "blobs"), "oci-subject"), `127.0.0.1:${port}/app:v1`, { client });
  assert.ok(puts.includes("v1"));
  assert.deepEqual(puts.filter((p) => p.startsWith("sha256-")), [], "no referrers tag where the registry lists referrers itself");
  assert.equal(puts.length, 6, "4 manifests by digest, the index by digest, the tag");
});

test("planted entries in the referrers tag are skipped with a warning; aotpack sbom and inspect still use the valid one", { timeout: 180_000 }, async (t) => {
  const env = await withRegistry(t);
  if (!env) return;
  const { registry, dir, client } = env;
  const index = await indexWithAttestations(join(dir, "blobs"), "planted");
  await push(index, `${registry.host}/app:v1`, { client });
  const amd64 = (await index.indexManifest()).manifests.find((d) => d.platform?.architecture === "amd64")!;
  const tag = referrersTag(amd64.digest);
  const valid = (await listReferrers(client, "app", amd64.digest))[0]!;

  // An attestation of amd64 whose SPDX statement is not JSON: it verifies by digest but cannot be read.
  const bytes = async (b: Buffer) => {
    await client.uploadBlob("app", { digest: sha256(b), size: b.length, open: async () => Readable.from([b]) });
    return { digest: sha256(b), size: b.length };
  };
  const layer = await bytes(Buffer.from("this is not an in-toto statement"));
  const config = await bytes(Buffer.from(JSON.stringify({ architecture: "unknown", os: "unknown", config: {}, rootfs: { type: "layers", diff_ids: [layer.digest] } })));
  const bad = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, ...config },
    layers: [{ mediaType: IN_TOTO_MEDIA_TYPE, ...layer, annotations: { [PREDICATE_TYPE_ANNOTATION]: SPDX_PREDICATE } }],
    subject: { mediaType: amd64.mediaType, digest: amd64.digest, size: amd64.size },
  }));
  const badDigest = await client.putManifest("app", sha256(bad), bad, MediaType.OciManifest);
  // A referrer deleted after it was listed (docker-registry refuses an index naming a manifest it lacks).
  const gone = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, ...config }, layers: [] }));
  const goneDigest = await client.putManifest("app", sha256(gone), gone, MediaType.OciManifest);
  const planted = [
    { mediaType: MediaType.OciManifest, digest: goneDigest, size: gone.length, artifactType: MediaType.OciConfig },
    { mediaType: MediaType.OciManifest, digest: amd64.digest, size: amd64.size, artifactType: "application/vnd.example.not-an-attestation" },
    { mediaType: MediaType.OciManifest, digest: badDigest, size: bad.length, artifactType: MediaType.OciConfig },
  ];
  const tagged = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...planted, valid] }));
  await client.putManifest("app", tag, tagged, MediaType.OciIndex);
  assert.equal((await fetch(`${registry.url}/v2/app/manifests/${goneDigest}`, { method: "DELETE" })).status, 202);

  const cache = join(dir, "cache");
  const byDigest = `registry:${registry.host}/app@${amd64.digest}`;
  const sbom = await runCli(["sbom", byDigest], { env: { AOTPACK_CACHE_DIR: cache } });
  assert.equal(sbom.code, 0, sbom.stderr);
  assert.deepEqual(JSON.parse(sbom.stdout), { spdxVersion: "SPDX-2.3", seed: "planted" }, "the valid attestation's SBOM");
  assert.match(sbom.stderr, new RegExp(`warning: skipping referrer ${goneDigest} of ${amd64.digest}: .*not found`));
  assert.match(sbom.stderr, new RegExp(`warning: skipping attestation ${badDigest}: attestation layer ${layer.digest} is not JSON`));
  assert.ok(!sbom.stderr.includes("not-an-attestation"), "a referrer of another kind is no warning");

  const inspect = await runCli(["inspect", byDigest, "--json"], { env: { AOTPACK_CACHE_DIR: cache } });
  assert.equal(inspect.code, 0, inspect.stderr);
  const attestations = (JSON.parse(inspect.stdout) as { attestations: { digest: string }[] }).attestations.map((a) => a.digest);
  assert.deepEqual(attestations.sort(), [badDigest, valid.digest].sort());
});

test("a referrer the registry serves with the wrong bytes (digest mismatch) is skipped with a warning, the next one is used", { timeout: 60_000 }, async (t) => {
  const subject = sha256("the subject");
  const manifest = (seed: string) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256(seed), size: 2 }, layers: [], subject: { mediaType: MediaType.OciManifest, digest: subject, size: 2 } }));
  const good = manifest("good");
  const liar = sha256("what the index promised");
  const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [liar, sha256(good)].map((digest) => ({ mediaType: MediaType.OciManifest, digest, size: good.length })) });
  const server = createServer((req, res) => {
    const url = req.url ?? "";
    if (url.endsWith(`/referrers/${subject}`)) return res.writeHead(200, { "Content-Type": MediaType.OciIndex }).end(index);
    if (url.endsWith(`/manifests/${liar}`)) return res.writeHead(200, { "Content-Type": MediaType.OciManifest }).end(manifest("other bytes"));
    if (url.endsWith(`/manifests/${sha256(good)}`)) return res.writeHead(200, { "Content-Type": MediaType.OciManifest }).end(good);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const said: string[] = [];
  const lookup = remoteReferrers(`127.0.0.1:${(server.address() as { port: number }).port}/app`, { credentials: null, onWarning: (m) => said.push(m) });
  const found = await lookup(subject);
  assert.deepEqual(await Promise.all(found.map((i) => i.digest())), [sha256(good)]);
  assert.equal(said.length, 1);
  assert.match(said[0]!, new RegExp(`^skipping referrer ${liar} of ${subject}: manifest .*@${liar}: the registry sent content with digest sha256:`));
});
