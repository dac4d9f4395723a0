/**
 * The fixed .NET Dockerfile built for real: `aotpack dockerfile` on examples/todo-api-dotnet, then
 * `buildah bud --platform linux/amd64,linux/arm64 --network none` on a local SDK image made from the
 * host's SDK, NuGet packages and toolchain (bench/dotnet-buildah.ts). Both platforms' images must pass
 * `aotpack verify` (arm64 under qemu-user), run as non-root, and hold no *.dbg.
 * Slow (two NativeAOT compiles and a 2 GB builder image): runs with AOTPACK_DOTNET_BUILDAH_TEST=1, and
 * then fails when a part is missing.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { readLayout } from "../src/oci/layout-source.ts";
import { formatVerifyReport, verifyImage } from "../src/verify/verify.ts";
import { copyProject, REPO } from "./aotpack-cli.ts";
import { budToLayout, openStore, type BuildahStore } from "./buildah.ts";
import { DOTNET_RUNTIME_IMAGE, DOTNET_SDK_IMAGE, dotnetBuildahUnavailable, makeDotnetImages } from "./dotnet-buildah.ts";
import { DOTNET_PROJECT, VERIFY_TIMEOUT_MS } from "./dotnet.ts";

const run = promisify(execFile);
const missing = dotnetBuildahUnavailable();
// Minutes, not seconds (a 2 GB SDK image, two NativeAOT compiles, arm64 under qemu): on request only,
// so the suite stays inside its time budget. `npm run bench` (its .NET section) runs the same build.
const optIn = process.env.AOTPACK_DOTNET_BUILDAH_TEST === "1";
if (optIn && missing) test(".NET buildah test prerequisites", () => assert.fail(`AOTPACK_DOTNET_BUILDAH_TEST=1 but ${missing}`));
const skip = !optIn ? "skipped: slow; set AOTPACK_DOTNET_BUILDAH_TEST=1 to run it (the bench's .NET section runs it too)" : missing ? `skipped: ${missing}` : false;

let work = "";
let store: BuildahStore | undefined;
after(async () => {
  await store?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

type Desc = { digest: string; platform?: { architecture: string } };
const blob = <T>(layout: string, digest: string): T => JSON.parse(readFileSync(join(layout, "blobs", ...digest.split(":")), "utf8")) as T;

test("the fixed .NET Dockerfile builds both platforms offline under buildah, and both images pass aotpack verify", { skip, timeout: 3_600_000 }, async () => {
  work = mkdtempSync(join(tmpdir(), "aotpack-dotnet-bud-"));
  store = await openStore(work, "overlay");
  await makeDotnetImages(store, work);
  const ctx = join(work, "project");
  copyProject(DOTNET_PROJECT, ctx);
  rmSync(join(ctx, "bin"), { recursive: true, force: true });
  rmSync(join(ctx, "obj"), { recursive: true, force: true });
  await run(process.execPath, ["--import", "tsx", join(REPO, "src", "cli", "bin.ts"), "dockerfile", ctx, "--force"], { cwd: REPO, timeout: 120_000 });
  const layout = join(work, "oci");
  const r = await budToLayout(store, {
    dockerfile: join(ctx, "Dockerfile"),
    contextDir: ctx,
    layoutDir: layout,
    cache: false,
    name: "dotnet-test",
    timeoutMs: 1_500_000,
    buildArgs: { SDK_IMAGE: DOTNET_SDK_IMAGE, RUNTIME_IMAGE: DOTNET_RUNTIME_IMAGE },
    network: "none",
  });
  assert.deepEqual(r.platforms, ["linux/amd64", "linux/arm64"]);

  // Per platform: exec-form entrypoint, non-root, the port aotpack build declares, and no symbols in any layer.
  const index = blob<{ manifests: Desc[] }>(layout, JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests[0].digest);
  for (const m of index.manifests) {
    const manifest = blob<{ config: Desc; layers: Desc[] }>(layout, m.digest);
    const config = blob<{ config: { User: string; Entrypoint: string[]; Env: string[]; ExposedPorts: Record<string, unknown> } }>(layout, manifest.config.digest).config;
    assert.equal(config.User, "65532:65532");
    assert.deepEqual(config.Entrypoint, ["/app/TodoApi"]);
    assert.ok(config.Env.includes("PORT=8080"), config.Env.join(" "));
    assert.deepEqual(Object.keys(config.ExposedPorts), ["8080/tcp"]);
    for (const l of manifest.layers) {
      const { stdout } = await run("tar", ["-tf", join(layout, "blobs", ...l.digest.split(":"))], { maxBuffer: 16 * 1024 * 1024 });
      assert.ok(!/\.dbg$/m.test(stdout), `${m.platform?.architecture}: a layer holds *.dbg`);
    }
  }

  const checks = (JSON.parse(readFileSync(join(DOTNET_PROJECT, "aotpack.config.json"), "utf8")) as { verify: Parameters<typeof verifyImage>[0]["checks"] }).verify;
  const report = await verifyImage({ image: await (await readLayout(layout)).resolve(), checks, timeoutMs: VERIFY_TIMEOUT_MS });
  assert.ok(report.ok, formatVerifyReport(report));
  assert.deepEqual(report.platforms.map((p) => p.platform).sort(), ["linux/amd64", "linux/arm64"]);
});
