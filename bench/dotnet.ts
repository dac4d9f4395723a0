/**
 * The .NET section of `npm run bench`: the post's own system, side by side in one run.
 *   - `aotpack build examples/todo-api-dotnet` for both platforms, cold (fresh cache) and warm;
 *   - `aotpack dockerfile`'s fixed Dockerfile under `buildah bud --platform linux/amd64,linux/arm64`,
 *     cold (--no-cache) and warm, offline, on a local SDK image made from the host's files
 *     (bench/dotnet-buildah.ts), with the post's 265.8 s beside them;
 *   - compressed size per platform (layer blobs + config) of both images beside the published figures;
 *   - startup to the first 200 and RSS of the NativeAOT image against the Bun image, from one verify run each.
 */
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { readLayout } from "../src/oci/layout-source.ts";
import { verifyImage, type PlatformReport } from "../src/verify/verify.ts";
import { aotpackJson, copyProject, freshCache, REPO, type CliRun } from "./aotpack-cli.ts";
import { budToLayout, openStore, type BudResult } from "./buildah.ts";
import { DOTNET_RUNTIME_IMAGE, DOTNET_SDK_IMAGE, dotnetBuildahUnavailable, makeDotnetImages } from "./dotnet-buildah.ts";
import { fmtStats, mdTable, ratio, stats } from "./lib.ts";
import { inCI } from "../test/support/index.ts";

const run = promisify(execFile);

export const DOTNET_PROJECT = join(REPO, "examples", "todo-api-dotnet");
const PLATFORMS = "linux/amd64,linux/arm64";

/** The post's figures: its whole multi-platform buildx build, and the images it compared (compressed, per platform). */
export const DOTNET_POST = {
  buildSeconds: 265.8,
  sizesMB: { "runtime-deps:10.0": 51.3, "runtime-deps:10.0-noble-chiseled": 11.6, "runtime-deps:10.0-noble-chiseled-extra": 26.6 },
};
/** The issue's goal for the invariant Todo API. */
const GOAL_MB = 7;

export interface DotnetBenchOptions {
  work: string;
  seed: string;
  cold: number;
  warm: number;
  budCold: number;
  budWarm: number;
  /** A Bun Todo API image (OCI layout) from the same run, for the startup/RSS comparison; built here when absent. */
  bunLayout?: string;
  log: (m: string) => void;
  /** Lines for the run's headline. */
  headline: string[];
}

/** Compressed bytes per platform: the manifest's layer blobs plus its config blob, from an OCI layout's (nested) index. */
export async function layoutSizes(layoutDir: string): Promise<Map<string, number>> {
  type Desc = { digest: string; size: number; platform?: { architecture: string; os: string } };
  const blob = async (d: string): Promise<{ manifests?: Desc[]; layers?: Desc[]; config?: Desc }> => JSON.parse(await readFile(join(layoutDir, "blobs", ...d.split(":")), "utf8"));
  const out = new Map<string, number>();
  const visit = async (descs: Desc[]): Promise<void> => {
    for (const d of descs) {
      const b = await blob(d.digest);
      if (b.manifests) await visit(b.manifests);
      else if (d.platform && d.platform.architecture !== "unknown") out.set(`${d.platform.os}/${d.platform.architecture}`, (b.layers ?? []).reduce((a, l) => a + l.size, 0) + (b.config?.size ?? 0));
    }
  };
  await visit((JSON.parse(await readFile(join(layoutDir, "index.json"), "utf8")) as { manifests: Desc[] }).manifests);
  return out;
}

async function verifyLayout(layout: string, checks: Parameters<typeof verifyImage>[0]["checks"], what: string): Promise<PlatformReport[]> {
  // NativeAOT under qemu-user took 25.6 s to its first answer on this loaded 2-core host; 30 s (the default) is too tight.
  const report = await verifyImage({ image: await (await readLayout(layout)).resolve(), checks, timeoutMs: VERIFY_TIMEOUT_MS });
  const got = report.platforms.map((p) => p.platform).sort().join(",");
  if (got !== PLATFORMS) throw new Error(`${what}: verify saw ${got}, want ${PLATFORMS}`);
  const bad = report.platforms.filter((p) => !p.ok);
  if (bad.length) throw new Error(`${what}: verify failed on ${bad.map((p) => `${p.platform} (${p.error ?? "a check failed"})`).join(", ")}`);
  return report.platforms;
}

/** Bound on each image's wait for its first good response under verify. */
export const VERIFY_TIMEOUT_MS = 180_000;

const MB = (b: number): string => (b / 1e6).toFixed(2);
const sec = (xs: number[]): string => fmtStats(stats(xs), "s", 1);

export async function dotnetSection(o: DotnetBenchOptions): Promise<string> {
  // A section merged alone (--only=dotnet --merge) must say how busy the host was: the run's header is another run's.
  const loadAtStart = loadavg();
  const checks = (JSON.parse(await readFile(join(DOTNET_PROJECT, "aotpack.config.json"), "utf8")) as { verify: Parameters<typeof verifyImage>[0]["checks"] }).verify;
  const build = (layout: string, cacheDir: string): Promise<CliRun> =>
    aotpackJson(["build", DOTNET_PROJECT, "--platform", PLATFORMS, "-o", `oci:${layout}:latest`], { cacheDir, timeoutMs: 60 * 60_000 });

  // aotpack: cold = a fresh cache (downloads pre-seeded, nothing compiled), warm = the same cache again.
  const layout = join(o.work, "dotnet-oci");
  const coldRuns: CliRun[] = [];
  let cache = "";
  for (let i = 0; i < o.cold; i++) {
    o.log(`.NET: aotpack cold build ${i + 1}/${o.cold}`);
    if (cache) await rm(cache, { recursive: true, force: true });
    cache = await freshCache(join(o.work, "caches"), o.seed);
    await rm(layout, { recursive: true, force: true });
    const r = await build(layout, cache);
    if (r.json.platforms.some((p) => p.compiledFromCache)) throw new Error(".NET cold build reused a compiled artifact");
    coldRuns.push(r);
  }
  const warmRuns: CliRun[] = [];
  for (let i = 0; i < o.warm; i++) {
    o.log(`.NET: aotpack warm build ${i + 1}/${o.warm}`);
    const r = await build(layout, cache);
    if (!r.json.platforms.every((p) => p.compiledFromCache)) throw new Error(".NET warm build recompiled with nothing changed");
    warmRuns.push(r);
  }

  // The fixed Dockerfile, as `aotpack dockerfile` writes it, under buildah.
  const missing = dotnetBuildahUnavailable();
  let bud: { cold: BudResult[]; warm: BudResult[]; layout: string } | undefined;
  if (missing) {
    if (inCI()) throw new Error(`CI=true but the .NET Dockerfile build cannot run: ${missing}`);
  } else {
    const store = await openStore(o.work, "overlay");
    try {
      o.log(".NET: making the local SDK and runtime images from host files (not timed)");
      await makeDotnetImages(store, o.work);
      const ctx = join(o.work, "dotnet-context");
      copyProject(DOTNET_PROJECT, ctx);
      await rm(join(ctx, "bin"), { recursive: true, force: true });
      await rm(join(ctx, "obj"), { recursive: true, force: true });
      await run(process.execPath, ["--import", "tsx", join(REPO, "src", "cli", "bin.ts"), "dockerfile", ctx, "--force"], { cwd: REPO, timeout: 120_000 });
      bud = { cold: [], warm: [], layout: join(o.work, "dotnet-bud-oci") };
      const once = async (cacheOn: boolean, i: number): Promise<BudResult> => {
        o.log(`.NET: buildah bud ${cacheOn ? "warm" : "cold"} ${i + 1}`);
        await rm(bud!.layout, { recursive: true, force: true });
        const r = await budToLayout(store, {
          dockerfile: join(ctx, "Dockerfile"),
          contextDir: ctx,
          layoutDir: bud!.layout,
          cache: cacheOn,
          name: "dotnet",
          timeoutMs: 60 * 60_000,
          buildArgs: { SDK_IMAGE: DOTNET_SDK_IMAGE, RUNTIME_IMAGE: DOTNET_RUNTIME_IMAGE },
          network: "none",
        });
        if (r.platforms.join(",") !== PLATFORMS) throw new Error(`.NET buildah: the image has ${r.platforms.join(",")}, want ${PLATFORMS}`);
        return r;
      };
      for (let i = 0; i < o.budCold; i++) bud.cold.push(await once(false, i));
      for (let i = 0; i < o.budWarm; i++) bud.warm.push(await once(true, i));
    } finally {
      await store.close();
    }
  }

  // One verify run per image: both must pass on both platforms; startup and RSS come from it.
  o.log(".NET: verify (aotpack image, buildah image, Bun image)");
  const aotVerify = await verifyLayout(layout, checks, ".NET image from aotpack build");
  const budVerify = bud ? await verifyLayout(bud.layout, checks, ".NET image from buildah") : undefined;
  let bunLayout = o.bunLayout;
  if (!bunLayout) {
    bunLayout = join(o.work, "dotnet-bun-oci");
    await aotpackJson(["build", join(REPO, "examples", "todo-api"), "--platform", PLATFORMS, "-o", `oci:${bunLayout}:latest`], { cacheDir: await freshCache(join(o.work, "caches"), o.seed) });
  }
  const bunVerify = await verifyLayout(bunLayout, [{ path: "/todos", expectStatus: 200, expectJsonType: "array" }], "Bun image");

  const aotSizes = await layoutSizes(layout);
  const budSizes = bud ? await layoutSizes(bud.layout) : undefined;
  const bunSizes = await layoutSizes(bunLayout);

  const coldS = coldRuns.map((r) => r.seconds);
  const warmS = warmRuns.map((r) => r.seconds);
  const aotCold = stats(coldS).median;
  const aotWarm = stats(warmS).median;
  const timeRows: (string | number)[][] = [
    ["`aotpack build`, cold", sec(coldS), "1.00×", ratio(aotCold, DOTNET_POST.buildSeconds)],
    ["`aotpack build`, warm (nothing changed)", sec(warmS), ratio(aotWarm, aotCold), ratio(aotWarm, DOTNET_POST.buildSeconds)],
  ];
  if (bud) {
    const c = bud.cold.map((r) => r.totalSeconds);
    const w = bud.warm.map((r) => r.totalSeconds);
    timeRows.push(["fixed Dockerfile, `buildah bud`, cold (`--no-cache`)", sec(c), ratio(stats(c).median, aotCold), ratio(stats(c).median, DOTNET_POST.buildSeconds)]);
    timeRows.push(["fixed Dockerfile, `buildah bud`, warm (the same build again)", sec(w), ratio(stats(w).median, aotCold), ratio(stats(w).median, DOTNET_POST.buildSeconds)]);
    o.headline.push(`.NET NativeAOT (2 platforms): aotpack build cold ${aotCold.toFixed(1)} s, warm ${aotWarm.toFixed(1)} s; fixed Dockerfile under buildah cold ${stats(c).median.toFixed(1)} s (${ratio(stats(c).median, aotCold)} aotpack); the post's buildx build 265.8 s`);
  } else {
    timeRows.push(["fixed Dockerfile, `buildah bud`", `not run: ${missing}`, "-", "-"]);
    o.headline.push(`.NET NativeAOT (2 platforms): aotpack build cold ${aotCold.toFixed(1)} s, warm ${aotWarm.toFixed(1)} s; the post's buildx build 265.8 s`);
  }
  timeRows.push(["the post: `docker buildx build --platform linux/amd64,linux/arm64` (fixed Dockerfile, pulls and apt included)", DOTNET_POST.buildSeconds.toFixed(1), ratio(DOTNET_POST.buildSeconds, aotCold), "1.00×"]);

  const sizeRows: (string | number)[][] = [];
  for (const p of PLATFORMS.split(",")) {
    const aot = aotSizes.get(p) ?? NaN;
    sizeRows.push([`aotpack build, ${p}`, MB(aot), aot / 1e6 <= GOAL_MB ? `≤ ${GOAL_MB} MB: met` : `≤ ${GOAL_MB} MB: not met`]);
    if (budSizes) sizeRows.push([`fixed Dockerfile (buildah, glibc-only local base), ${p}`, MB(budSizes.get(p) ?? NaN), ""]);
    sizeRows.push([`Bun Todo API (aotpack build), ${p}`, MB(bunSizes.get(p) ?? NaN), ""]);
  }
  for (const [name, mb] of Object.entries(DOTNET_POST.sizesMB)) sizeRows.push([`the post: ${name} + the app`, mb.toFixed(1), ""]);
  o.headline.push(`.NET image, compressed: ${PLATFORMS.split(",").map((p) => `${p} ${MB(aotSizes.get(p) ?? NaN)} MB`).join(", ")} (the post: chiseled 11.6 MB, chiseled-extra 26.6 MB, runtime-deps 51.3 MB)`);

  const runRows: (string | number)[][] = [];
  const byPlatform = (rs: PlatformReport[] | undefined, p: string) => rs?.find((r) => r.platform === p);
  for (const p of PLATFORMS.split(",")) {
    for (const [what, rs] of [["NativeAOT (aotpack build)", aotVerify], ["NativeAOT (fixed Dockerfile)", budVerify], ["Bun (aotpack build)", bunVerify]] as const) {
      const r = byPlatform(rs, p);
      if (!r) continue;
      runRows.push([`${what}, ${p}${r.emulated ? " (qemu-user)" : ""}`, r.startupMs ?? "-", r.rssKiB !== undefined ? (r.rssKiB / 1024).toFixed(1) : "-", r.peakRssKiB !== undefined ? (r.peakRssKiB / 1024).toFixed(1) : "-"]);
    }
  }
  const a = byPlatform(aotVerify, "linux/amd64");
  const b = byPlatform(bunVerify, "linux/amd64");
  if (a?.startupMs && b?.startupMs && a.rssKiB && b.rssKiB) {
    o.headline.push(`linux/amd64 start to first 200: NativeAOT ${a.startupMs} ms vs Bun ${b.startupMs} ms; RSS ${(a.rssKiB / 1024).toFixed(1)} vs ${(b.rssKiB / 1024).toFixed(1)} MiB`);
  }

  return [
    "`examples/todo-api-dotnet` (the post's `webapiaot` Todo API, InvariantGlobalization) for linux/amd64 and linux/arm64 on this x86_64 host, both routes in one run. " +
      "aotpack: `aotpack build … -o oci:DIR` as a child process; cold = a fresh `AOTPACK_CACHE_DIR` with downloads pre-seeded (NuGet packages come from the host's global packages folder), warm = the same cache again. " +
      "Dockerfile: `aotpack dockerfile` writes the fixed Dockerfile, built with `buildah bud --platform linux/amd64,linux/arm64 --layers --network none --isolation oci` on a private overlay store (cold: `--no-cache`); " +
      "the SDK builder image (the host's .NET SDK, its NuGet packages, and clang/zlib/aarch64 cross toolchain from the host's dpkg database) and a glibc-only runtime image are made from local files before timing, as pulled images would be. " +
      "Time = `bud` plus `manifest push --all` to an OCI layout. The post's 265.8 s is its whole `docker buildx` run (pulling images and `apt-get install` included), so it is context, not a like-for-like ratio. " +
      `Load average (1, 5, 15 min) at this section's start: ${loadAtStart.map((l) => l.toFixed(2)).join(", ")}; at its end: ${loadavg().map((l) => l.toFixed(2)).join(", ")} (${cpus().length} cores).`,
    "",
    mdTable(["build (both platforms)", "seconds (median, min, max)", "vs aotpack cold", "vs the post's 265.8 s"], timeRows),
    "",
    "Compressed size per platform = the manifest's layer blobs + config blob (MB = 10⁶ bytes). The post's figures are its images on Microsoft's runtime-deps bases.",
    "",
    mdTable(["image", "compressed MB", `goal (≤ ${GOAL_MB} MB, invariant Todo API)`], sizeRows),
    "",
    "Startup (exec → first good response) and RSS after the checks, from one `aotpack verify` run per image (the .NET checks are the example's own `verify` list; Bun: GET /todos). arm64 runs under qemu-user: its start and RSS include translation and compare only with each other.",
    "",
    mdTable(["image, platform", "startup, ms", "RSS after checks, MiB", "peak RSS, MiB"], runRows),
  ].join("\n");
}
