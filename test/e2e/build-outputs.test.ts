/**
 * `aotpack build` with every output kind in one run, each read back by an independent tool:
 * skopeo for the layout and the archive, a real dockerd (`docker load` + `docker run`) for the
 * docker-archive, and a real registry (Debian's docker-registry) + skopeo for the push.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";
import { requireTool, requireRoot, runOk, tempDir } from "../support/tools.ts";
import { startDockerd } from "../support/dockerd.ts";
import { freePort, startRegistry } from "../support/registry.ts";

const fixture = join(REPO_ROOT, "test/fixtures/hello-server");

interface BuildJson {
  digest: string;
  platforms: { platform: string; digest: string }[];
  outputs: { output: string; reference: string; digest: string }[];
}

async function waitFor(url: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return `${res.status} ${await res.text()}`;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${url}: no answer within ${timeoutMs} ms (${String(err)})`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}

test("one build, four outputs, each read back by an independent tool", { timeout: 900_000 }, async (t) => {
  for (const tool of ["skopeo", "docker-registry", "dockerd"]) if (!requireTool(t, tool)) return;
  if (!requireRoot(t, "dockerd needs root")) return;
  const dir = await tempDir(t, "aotpack-outputs-");
  const registry = await startRegistry();
  t.after(() => registry.stop());

  const layout = join(dir, "layout");
  const archive = join(dir, "image.tar");
  const dockerArchive = join(dir, "docker.tar");
  const ref = `${registry.host}/hello/server:v1`;
  const r = await runCli(
    [
      "build", fixture, "--platform", "linux/amd64,linux/arm64",
      "-o", `oci:${layout}:v1`, "-o", `oci-archive:${archive}:v1`,
      "-o", `docker-archive:${dockerArchive}:v1`, "--docker-platform", "linux/amd64",
      "-o", `registry:${ref}`, "--json",
    ],
    { env: { SOURCE_DATE_EPOCH: "0" } },
  );
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as BuildJson;
  assert.deepEqual(result.platforms.map((p) => p.platform), ["linux/amd64", "linux/arm64"]);
  const amd64Digest = result.platforms[0]!.digest;

  // skopeo reads the layout and the archive: the raw index is ours, and each platform resolves.
  const raw = JSON.parse((await runOk("skopeo", ["inspect", "--raw", `oci:${layout}:v1`])).stdout) as { manifests: { digest: string; platform: { os: string; architecture: string } }[] };
  assert.deepEqual(raw.manifests.filter((m) => m.platform.os !== "unknown").map((m) => m.platform.architecture), ["amd64", "arm64"]);
  for (const arch of ["amd64", "arm64"]) {
    const fromArchive = JSON.parse((await runOk("skopeo", ["inspect", "--override-arch", arch, `oci-archive:${archive}:v1`])).stdout) as { Architecture: string; Digest: string };
    assert.equal(fromArchive.Architecture, arch);
  }

  // The registry push: skopeo sees the same index digest under the tag.
  const pushed = result.outputs.find((o) => o.output.startsWith("registry:"));
  assert.equal(pushed?.digest, result.digest);
  const remoteRaw = (await runOk("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`])).stdout;
  const { sha256 } = await import("../../src/oci/digest.ts");
  assert.equal(sha256(remoteRaw), result.digest);

  // inspect reads every source kind back through the same model.
  for (const src of [`oci:${layout}:v1`, `oci-archive:${archive}:v1`, `registry:${ref}`]) {
    const i = await runCli(["inspect", src, "--json"]);
    assert.equal(i.code, 0, i.stderr);
    const info = JSON.parse(i.stdout) as { digest: string; images: { platform: string; config: { User?: string } }[] };
    assert.equal(info.digest, result.digest, src);
    assert.deepEqual(info.images.map((x) => x.platform), ["linux/amd64", "linux/arm64"]);
    assert.equal(info.images[0]!.config.User, "65532:65532");
  }

  // docker load + docker run of the amd64 image; then docker stop must end it with exit code 0 (SIGTERM handled).
  const dockerd = await startDockerd();
  t.after(() => dockerd.stop());
  const loaded = await dockerd.dockerOk(["load", "-i", dockerArchive]);
  assert.match(loaded.stdout, /Loaded image: hello-server:v1|Loaded image ID/);
  const inspect = JSON.parse((await dockerd.dockerOk(["image", "inspect", "hello-server:v1"])).stdout) as { Architecture: string; Config: { User: string } }[];
  assert.equal(inspect[0]!.Architecture, "amd64");
  const port = await freePort();
  const id = (await dockerd.dockerOk(["run", "-d", "--network", "host", "-e", `PORT=${port}`, "hello-server:v1"])).stdout.trim();
  try {
    assert.equal(await waitFor(`http://127.0.0.1:${port}/`, 30_000), "200 hello");
    await dockerd.dockerOk(["stop", "-t", "5", id], { timeoutMs: 30_000 });
    const state = JSON.parse((await dockerd.dockerOk(["inspect", id])).stdout) as { State: { ExitCode: number } }[];
    assert.equal(state[0]!.State.ExitCode, 0, "exit code after docker stop (SIGTERM)");
  } finally {
    await dockerd.docker(["rm", "-f", id]);
  }
  void amd64Digest;
});

test("a push to an unreachable registry fails with one line and exit 1", { timeout: 600_000 }, async (t) => {
  const port = await freePort(); // nothing listens here
  const r = await runCli(["build", fixture, "--platform", "linux/amd64", "-o", `registry:127.0.0.1:${port}/x/y:z`]);
  assert.equal(r.code, 1, r.stderr);
  // Progress lines come first on stderr; the error is the last line (plus an optional hint).
  assert.match(r.stderr, /\naotpack: error: [^\n]*127\.0\.0\.1:\d+[^\n]*\n(hint: [^\n]*\n)?$/);
  void t;
});
