/**
 * `npm run bench`: every benchmark in one run, side by side, written to docs/benchmarks.md
 * (or, with --quick, a short smoke run written to bench/results/quick.md).
 *
 *   npm run bench                      full run (~20 min on 2 cores) → docs/benchmarks.md
 *   npm run bench -- --quick           CI smoke run (~4 min) → bench/results/quick.md
 *   npm run bench -- --only=runtime    some sections only (builds, dockerfile, sizes, runtime,
 *                                      registry, compile, dotnet, meaning) → bench/results/partial.md
 *   npm run bench -- --only=dotnet --merge   the same, merged into docs/benchmarks.md: each section run
 *                                      replaces the one of the same title, its headline lines replace theirs
 * --quick skips the .NET section (two NativeAOT compiles and an SDK image take minutes, not seconds).
 *
 * The run fails (exit 1) only when a benchmark breaks (an exception or a wrong result: a server
 * answering wrongly, an image missing a platform); timings and goals are reported, never enforced.
 * A broken section is written into the report as such and the other sections still run.
 */
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import { cacheRoot } from "../src/cache.ts";
import { ensureBunRuntime, installedBun } from "../src/compile/bun-runtime.ts";
import { compilerFor } from "../src/compile/index.ts";
import { ensureNodeRuntime, NODE_SEA_VERSION } from "../src/compile/node-sea.ts";
import { errorMessage } from "../src/errors.ts";
import { parsePlatform } from "../src/oci/platform.ts";
import { setupBinfmt, removeBinfmtEntry } from "../src/verify/binfmt.ts";
import { chunkedBench } from "./chunked.ts";
import { encodersBench } from "./encoders.ts";
import { aotpackJson, applyOneLineChange, copyProject, freshCache, REPO, type BuildJson, type CliRun } from "./aotpack-cli.ts";
import { buildahUnavailable, budStage, budToLayout, emulatedDockerfile, makeLocalImages, openStore, type BudResult } from "./buildah.ts";
import { formatCompileBench, runCompileBench } from "./compile.ts";
import { layeringTable, runLayeringBench } from "./layering.ts";
import { fmtStats, machineInfo, mdTable, ratio, stats, type Stats } from "./lib.ts";
import { runPushBench } from "./push.ts";
import { incrementalPushBytes, registryTimes } from "./registry-bench.ts";
import { measureRuntime, type RuntimeResult } from "./runtime.ts";
import { dotnetSection } from "./dotnet.ts";
import { mergeReport } from "./merge.ts";
import { inCI } from "../test/support/index.ts";

const run = promisify(execFile);

const quick = process.argv.includes("--quick");
/** `--only=builds,runtime`: run some sections (a development aid; writes bench/results/partial.md). */
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const only = onlyArg ? new Set(onlyArg.split(",")) : undefined;
const SECTION_KEYS = ["builds", "chunked", "dockerfile", "sizes", "runtime", "registry", "compile", "dotnet", "meaning"];
const merge = process.argv.includes("--merge");
const PROJECT = join(REPO, "examples", "todo-api");
const PLATFORMS = "linux/amd64,linux/arm64";
const OUTPUT = only && !merge
  ? join(REPO, "bench", "results", "partial.md")
  : quick
    ? join(REPO, "bench", "results", "quick.md")
    : join(REPO, "docs", "benchmarks.md");

const N = quick
  ? { cold: 1, warm: 1, change: 1, budCold: 1, budWarm: 1, starts: 3, wrkSeconds: 1, warmupSeconds: 0, registry: 1, pushMb: 8, layerMb: 16 }
  : { cold: 3, warm: 3, change: 2, budCold: 2, budWarm: 2, starts: 20, wrkSeconds: 5, warmupSeconds: 1, registry: 3, pushMb: 50, layerMb: 100 };
/** .NET: each cold NativeAOT build compiles twice (about a minute per platform), so fewer repeats. */
const DOTNET_N = { cold: 1, warm: 2, budCold: 1, budWarm: 1 };

const GOALS = { warmSeconds: 2, coldSeconds: 10, layeredPushFraction: 0.01 };
/** The post's figures (see docs/benchmarks.md's sources). */
const POST = { emulatedSeconds: 211.2, nativeSeconds: 38.9 };

const runStarted = performance.now();
const log = (m: string): void => void process.stderr.write(`[bench ${((performance.now() - runStarted) / 1000).toFixed(0).padStart(4)} s] ${m}\n`);

const MB = (bytes: number): string => (bytes / 1e6).toFixed(2);
/** With its unit: small layers in kB, so a 12 kB app layer does not read as "0.00". */
const size = (bytes: number): string => (bytes >= 100e3 ? `${MB(bytes)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);
const sec = (s: Stats): string => fmtStats(s, "s", 2);
const yes = (ok: boolean): string => (ok ? "met" : "not met");

// ---- shared state, filled by the sections in order -------------------------------------

interface State {
  work: string;
  seed: string;
  cold?: { runs: CliRun[]; layout: string };
  warm?: CliRun[];
  aotColdMedian?: number;
  aotWarmMedian?: number;
  crossCold?: Stats;
  crossWarm?: Stats;
  emuCold?: Stats;
  emuWarm?: Stats;
  /** Seconds of the `build` stage alone: amd64 native, arm64 cross-compiled, arm64 emulated. */
  stage?: { amd64: number; arm64Cross: number; arm64Emulated: number };
  layeredPushFraction?: number;
  runtime?: RuntimeResult[];
  headline: string[];
  failures: string[];
}

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - t0) / 1000, value };
}

function checkBuild(j: BuildJson, what: string): void {
  const got = j.platforms.map((p) => p.platform).sort().join(",");
  if (got !== PLATFORMS) throw new Error(`${what}: built ${got}, want ${PLATFORMS}`);
  for (const p of j.platforms) if (!(p.compressedBytes > 0)) throw new Error(`${what}: ${p.platform} has no layers`);
}

const buildArgs = (project: string, layout: string, extra: string[] = []): string[] => ["build", project, "--platform", PLATFORMS, "-o", `oci:${layout}:latest`, ...extra];

// ---- 1. builds ---------------------------------------------------------------------------

async function prepare(s: State): Promise<void> {
  log("fetching runtimes into the seed cache (not timed)");
  for (const p of ["linux/amd64", "linux/arm64"]) {
    await ensureBunRuntime(parsePlatform(p));
    await ensureNodeRuntime(parsePlatform(p));
  }
  // One untimed build fills the seed's Debian indexes and packages, and warms the page cache.
  const cache = await freshCache(join(s.work, "caches"), s.seed);
  const r = await aotpackJson(buildArgs(PROJECT, join(s.work, "prime")), { cacheDir: cache });
  checkBuild(r.json, "priming build");
}

async function aotpackBuilds(s: State): Promise<string> {
  const coldRuns: CliRun[] = [];
  let cache = "";
  const layout = join(s.work, "todo-api-oci");
  for (let i = 0; i < N.cold; i++) {
    log(`aotpack cold build ${i + 1}/${N.cold}`);
    if (cache) await rm(cache, { recursive: true, force: true }); // symlinked seeds are unlinked, not followed
    cache = await freshCache(join(s.work, "caches"), s.seed);
    await rm(layout, { recursive: true, force: true });
    const r = await aotpackJson(buildArgs(PROJECT, layout), { cacheDir: cache });
    checkBuild(r.json, "cold build");
    if (r.json.platforms.some((p) => p.compiledFromCache)) throw new Error("cold build reused a compiled artifact");
    coldRuns.push(r);
  }
  const warmRuns: CliRun[] = [];
  for (let i = 0; i < N.warm; i++) {
    log(`aotpack warm build ${i + 1}/${N.warm}`);
    const r = await aotpackJson(buildArgs(PROJECT, layout), { cacheDir: cache });
    checkBuild(r.json, "warm build");
    if (!r.json.platforms.every((p) => p.compiledFromCache)) throw new Error("warm build recompiled with nothing changed");
    warmRuns.push(r);
  }
  s.cold = { runs: coldRuns, layout };
  s.warm = warmRuns;
  const cold = stats(coldRuns.map((r) => r.seconds));
  const warm = stats(warmRuns.map((r) => r.seconds));
  s.aotColdMedian = cold.median;
  s.aotWarmMedian = warm.median;
  const sameDigest = (runs: CliRun[]): string => (runs.every((r) => r.json.digest === coldRuns[0]!.json.digest) ? "yes" : "NO");

  // One-line change, single-file and layered: a copy of the project, built, edited, rebuilt, pushed.
  const changeRows: (string | number)[][] = [];
  for (const layoutKind of ["single-file", "layered"] as const) {
    const copy = join(s.work, `edit-${layoutKind}`);
    copyProject(PROJECT, copy);
    const changeCache = await freshCache(join(s.work, "caches"), s.seed);
    const before = join(s.work, `edit-${layoutKind}-before`);
    log(`aotpack ${layoutKind}: build before the change (not timed)`);
    const first = await aotpackJson(buildArgs(copy, before, ["--layout", layoutKind]), { cacheDir: changeCache });
    checkBuild(first.json, `${layoutKind} build`);
    const times: number[] = [];
    let afterJson: BuildJson | undefined;
    for (let i = 0; i < N.change; i++) {
      applyOneLineChange(copy, i + 1);
      const after = join(s.work, `edit-${layoutKind}-after-${i}`);
      log(`aotpack ${layoutKind}: build after one-line change ${i + 1}/${N.change}`);
      const r = await aotpackJson(buildArgs(copy, after, ["--layout", layoutKind]), { cacheDir: changeCache });
      checkBuild(r.json, `${layoutKind} rebuild`);
      if (r.json.digest === first.json.digest) throw new Error(`${layoutKind}: the one-line change did not change the image`);
      times.push(r.seconds);
      afterJson ??= r.json;
    }
    // Push bytes for the first change: the registry holds "before"; what does "after" upload?
    log(`aotpack ${layoutKind}: pushing before and after to a local registry`);
    const firstAfter = join(s.work, `edit-${layoutKind}-after-0`);
    const uploaded = await incrementalPushBytes(before, firstAfter, "latest");
    const imageBytes = afterJson!.platforms.reduce((a, p) => a + p.compressedBytes, 0);
    const fraction = uploaded / imageBytes;
    if (layoutKind === "layered") s.layeredPushFraction = fraction;
    changeRows.push([layoutKind, sec(stats(times)), MB(uploaded), MB(imageBytes), `${(fraction * 100).toFixed(2)} %`]);
    await rm(changeCache, { recursive: true, force: true });
  }

  const goalRows = [
    ["cold build (both platforms)", `≤ ${GOALS.coldSeconds} s`, `${cold.median.toFixed(2)} s`, yes(cold.median <= GOALS.coldSeconds)],
    ["warm build, no change", `≤ ${GOALS.warmSeconds} s`, `${warm.median.toFixed(2)} s`, yes(warm.median <= GOALS.warmSeconds)],
    [
      "layered push after a one-line change",
      `< ${GOALS.layeredPushFraction * 100} % of image bytes`,
      `${((s.layeredPushFraction ?? NaN) * 100).toFixed(2)} %`,
      yes((s.layeredPushFraction ?? 1) < GOALS.layeredPushFraction),
    ],
  ];
  s.headline.push(`aotpack build (2 platforms): cold ${cold.median.toFixed(1)} s, warm ${warm.median.toFixed(1)} s`);
  s.headline.push(`layered push after a one-line change: ${((s.layeredPushFraction ?? NaN) * 100).toFixed(2)} % of image bytes`);

  return [
    "Wall time of `aotpack build examples/todo-api --platform linux/amd64,linux/arm64 -o oci:DIR` as a child process (`node bin/aotpack.js`, the compiled CLI users run, so Node start-up and module loading are included). " +
      "Cold: a fresh `AOTPACK_CACHE_DIR` whose downloads (Bun/Node runtimes, Debian indexes and packages) are pre-seeded, so nothing is compiled or layered yet but nothing is downloaded either. Warm: the same cache again, nothing changed.",
    "",
    mdTable(["build", "time, seconds (median, min, max)", "same index digest as the first cold build"], [
      ["cold", sec(cold), sameDigest(coldRuns)],
      ["warm, no change", sec(warm), sameDigest(warmRuns)],
    ]),
    "",
    "After a one-line change (a copy of the project, `src/app.ts`: the first todo's title edited; each repetition a new text): rebuild time, and the blob bytes a push uploads to a registry (local docker-registry) that already holds the image from before the change (measured from the publisher's progress events; blobs it skips are not counted).",
    "",
    mdTable(["layout", "rebuild time, seconds", "uploaded MB", "image MB (compressed, both platforms)", "uploaded / image"], changeRows),
    "",
    "Goals (reported, not enforced):",
    "",
    mdTable(["goal", "target", "measured (median)", "status"], goalRows),
  ].join("\n");
}

async function dockerfileBuilds(s: State): Promise<string> {
  const missing = buildahUnavailable();
  if (missing) {
    if (inCI()) throw new Error(`CI=true but the Dockerfile builds cannot run: ${missing}`);
    return `Not run: ${missing}.`;
  }
  const store = await openStore(s.work);
  let binfmtRegistered = false;
  try {
    log("buildah: making the local builder and runtime images (not timed)");
    await makeLocalImages(store);
    const ctx = join(s.work, "dockerfile-context");
    copyProject(PROJECT, ctx);
    // As a user would: `aotpack dockerfile` writes the Dockerfile and its .dockerignore into the project.
    await run(process.execPath, ["--import", "tsx", join(REPO, "src", "cli", "bin.ts"), "dockerfile", ctx, "--platform", PLATFORMS], { cwd: REPO, timeout: 120_000 });
    await writeFile(join(ctx, "Dockerfile.emulated"), emulatedDockerfile(await readFile(join(ctx, "Dockerfile"), "utf8")));

    const bud = async (file: string, cache: boolean, name: string, i: number): Promise<BudResult> => {
      const layoutDir = join(s.work, `bud-${name}-${cache ? "warm" : "cold"}-${i}`);
      const r = await budToLayout(store, { dockerfile: join(ctx, file), contextDir: ctx, layoutDir, cache, name, timeoutMs: 30 * 60_000 });
      if (r.platforms.join(",") !== PLATFORMS) throw new Error(`buildah ${name}: the image has ${r.platforms.join(",")}, want ${PLATFORMS}`);
      await rm(layoutDir, { recursive: true, force: true });
      return r;
    };
    const series = async (file: string, name: string, cold: number, warm: number): Promise<{ cold: BudResult[]; warm: BudResult[] }> => {
      const out = { cold: [] as BudResult[], warm: [] as BudResult[] };
      for (let i = 0; i < cold; i++) {
        log(`buildah ${name}: cold ${i + 1}/${cold}`);
        out.cold.push(await bud(file, false, name, i));
      }
      for (let i = 0; i < warm; i++) {
        log(`buildah ${name}: warm ${i + 1}/${warm}`);
        out.warm.push(await bud(file, true, name, i));
      }
      return out;
    };
    const cross = await series("Dockerfile", "cross", N.budCold, N.budWarm);
    s.crossCold = stats(cross.cold.map((r) => r.totalSeconds));
    s.crossWarm = stats(cross.warm.map((r) => r.totalSeconds));

    let emu: { cold: BudResult[]; warm: BudResult[] } | undefined;
    let stageTimes: { amd64: number; arm64Cross: number; arm64Emulated: number } | undefined;
    let emuNote = "";
    if (quick) emuNote = "skipped in --quick";
    else {
      const binfmt = await setupBinfmt().catch((err: unknown) => errorMessage(err));
      if (typeof binfmt === "string") emuNote = `not run: ${binfmt}`;
      else {
        binfmtRegistered = binfmt.status === "registered";
        emu = await series("Dockerfile.emulated", "emulated", 1, 1);
        s.emuCold = stats(emu.cold.map((r) => r.totalSeconds));
        s.emuWarm = stats(emu.warm.map((r) => r.totalSeconds));
        // The post's comparison is one step: the arm64 build stage, emulated vs native. Ours, alone:
        const stage = async (file: string, platform: string): Promise<number> => {
          log(`buildah: build stage alone, ${file}, ${platform}`);
          return budStage(store, { dockerfile: join(ctx, file), contextDir: ctx, platform, stage: "build", timeoutMs: 30 * 60_000 });
        };
        stageTimes = {
          amd64: await stage("Dockerfile", "linux/amd64"),
          arm64Cross: await stage("Dockerfile", "linux/arm64"),
          arm64Emulated: await stage("Dockerfile.emulated", "linux/arm64"),
        };
      }
    }
    const aotCold = s.aotColdMedian ?? NaN;
    const aotWarm = s.aotWarmMedian ?? NaN;
    const row = (what: string, rs: BudResult[], aot: number): (string | number)[] => {
      const total = stats(rs.map((r) => r.totalSeconds));
      return [what, sec(total), sec(stats(rs.map((r) => r.budSeconds))), `${aot.toFixed(2)} s`, ratio(total.median, aot)];
    };
    const rows = [row("cross-compiling (as generated), cold", cross.cold, aotCold), row("cross-compiling (as generated), warm", cross.warm, aotWarm)];
    if (emu) rows.push(row("emulated arm64 build stage, cold", emu.cold, aotCold), row("emulated arm64 build stage, warm", emu.warm, aotWarm));
    else rows.push(["emulated arm64 build stage", emuNote, "-", "-", "-"]);
    s.stage = stageTimes;
    if (stageTimes) s.headline.push(`arm64 build stage alone: emulated ${stageTimes.arm64Emulated.toFixed(1)} s vs ${stageTimes.amd64.toFixed(1)} s native amd64 (${ratio(stageTimes.arm64Emulated, stageTimes.amd64)}; the post: ${ratio(POST.emulatedSeconds, POST.nativeSeconds)})`);
    if (s.emuCold && s.crossCold) {
      s.headline.push(`Dockerfile build, cold: cross ${s.crossCold.median.toFixed(1)} s, emulated ${s.emuCold.median.toFixed(1)} s (${ratio(s.emuCold.median, s.crossCold.median)}; post ${ratio(POST.emulatedSeconds, POST.nativeSeconds)})`);
    } else if (s.crossCold) s.headline.push(`Dockerfile build (buildah, cross), cold: ${s.crossCold.median.toFixed(1)} s`);
    return [
      `\`buildah bud --platform ${PLATFORMS} --isolation chroot --layers\` (cold: \`--no-cache\`; warm: the same build again) on a private vfs store, offline: the builder image (bun + /bin/sh + glibc per platform) and the runtime image (glibc only, like distroless/cc) are made from local files before timing, as pulled base images would be. ` +
        "Time = `bud` plus `buildah manifest push --all` to an OCI layout, so it ends where `aotpack build -o oci:` ends. " +
        "\"Emulated\" is the same Dockerfile with `--platform=$BUILDPLATFORM` removed from the build stage (the post's first attempt): the arm64 compile then runs under qemu-aarch64 through binfmt_misc. Ratios are against aotpack's median of the same kind (cold/warm) from this run.",
      "",
      mdTable(["build (both platforms)", "to OCI layout, seconds", "bud only, seconds", "aotpack, same kind (median)", "time vs aotpack"], rows),
      "",
      ...(stageTimes
        ? [
            "The post's comparison is one step, its arm64 build stage emulated against the same stage native on amd64. The same here: the `build` stage alone (`buildah bud --target build --no-cache`, one platform, one run each):",
            "",
            mdTable(["build stage", "seconds", "vs amd64 native"], [
              ["linux/amd64, native", stageTimes.amd64.toFixed(2), "1.00×"],
              ["linux/arm64, cross-compiled on amd64 (as generated)", stageTimes.arm64Cross.toFixed(2), ratio(stageTimes.arm64Cross, stageTimes.amd64)],
              ["linux/arm64, emulated (qemu through binfmt_misc)", stageTimes.arm64Emulated.toFixed(2), ratio(stageTimes.arm64Emulated, stageTimes.amd64)],
              ["the post: `apt-get install clang`, amd64 native", POST.nativeSeconds.toFixed(1), "1.00×"],
              ["the post: the same step, arm64 emulated", POST.emulatedSeconds.toFixed(1), ratio(POST.emulatedSeconds, POST.nativeSeconds)],
            ]),
          ]
        : []),
    ].join("\n");
  } finally {
    if (binfmtRegistered) await removeBinfmtEntry("aarch64").catch(() => undefined);
    await store.close();
  }
}

// ---- 2. sizes ----------------------------------------------------------------------------

interface Variant {
  runtime: "bun" | "node";
  layout: "single-file" | "layered";
  compression: "gzip" | "zstd";
  base: "deb:bookworm" | "scratch";
}

const variantName = (v: Variant): string => `${v.runtime === "bun" ? "Bun" : "Node SEA"}, ${v.layout}, ${v.compression}, ${v.base}`;
const DEFAULT_VARIANT: Variant = { runtime: "bun", layout: "single-file", compression: "gzip", base: "deb:bookworm" };

async function sizes(s: State): Promise<string> {
  const variants: Variant[] = [DEFAULT_VARIANT];
  if (!quick) {
    for (const runtime of ["bun", "node"] as const)
      for (const layout of ["single-file", "layered"] as const)
        for (const compression of ["gzip", "zstd"] as const) {
          const v: Variant = { runtime, layout, compression, base: "deb:bookworm" };
          if (variantName(v) !== variantName(DEFAULT_VARIANT)) variants.push(v);
        }
    // No scratch variants: build refuses scratch under a dynamically linked executable (it cannot start).
  }
  // zstd needs Node >= 22.15: run those builds under the Node the SEA compiler already caches.
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  const hostHasZstd = major > 22 || (major === 22 && minor >= 15);
  const newerNode = hostHasZstd ? process.execPath : process.arch === "x64" ? await ensureNodeRuntime(parsePlatform("linux/amd64")) : undefined;
  const caches = new Map<string, string>();
  const rows: (string | number)[][] = [];
  let defaultCompressed: Record<string, number> = {};
  for (const v of variants) {
    let json: BuildJson;
    if (v === DEFAULT_VARIANT && s.cold) json = s.cold.runs[0]!.json;
    else {
      const node = v.compression === "zstd" ? newerNode : process.execPath;
      if (!node) {
        rows.push([variantName(v), "both", "n/a: zstd needs Node ≥ 22.15", "", "", "", ""]);
        continue;
      }
      const key = node;
      if (!caches.has(key)) caches.set(key, await freshCache(join(s.work, "caches"), s.seed));
      log(`size variant: ${variantName(v)}`);
      const out = join(s.work, "variant");
      await rm(out, { recursive: true, force: true });
      try {
        // The example's aotpack.lock pins what the Bun executable needs; Node (libstdc++) resolves its own lock here.
        const lock = v.runtime === "node" ? ["--lockfile", join(s.work, "node-sea.aotpack.lock")] : [];
        const r = await aotpackJson(buildArgs(PROJECT, out, ["--runtime", v.runtime, "--layout", v.layout, "--compression", v.compression, "--base", v.base, ...lock]), { cacheDir: caches.get(key)!, node });
        checkBuild(r.json, variantName(v));
        json = r.json;
      } catch (err) {
        // One broken variant must not hide the others: its row says so, and the run still fails.
        const lines = errorMessage(err).split("\n");
        const cause = [...lines].reverse().find((l) => l.startsWith("aotpack: error:")) ?? lines[0]!;
        s.failures.push(`2. Image size, ${variantName(v)}: ${cause}`);
        log(`FAILED: ${variantName(v)}: ${cause}`);
        rows.push([variantName(v), "both", `**FAILED**: ${cause.replaceAll("|", "\\|")}`, "", "", "", ""]);
        continue;
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    }
    if (v === DEFAULT_VARIANT) defaultCompressed = Object.fromEntries(json.platforms.map((p) => [p.platform, p.compressedBytes]));
    for (const p of [...json.platforms].sort((a, b) => a.platform.localeCompare(b.platform))) {
      const base = p.layers.filter((l) => l.origin === "base").reduce((a, l) => a + l.compressedBytes, 0);
      const app = p.layers.filter((l) => l.origin === "app");
      rows.push([
        variantName(v),
        p.platform,
        MB(p.compressedBytes),
        MB(p.uncompressedBytes),
        MB(base),
        app.map((l) => `${l.name} ${size(l.compressedBytes)}`).join(" + "),
        ratio(p.compressedBytes, defaultCompressed[p.platform] ?? NaN),
      ]);
    }
  }
  const amd64 = s.cold?.runs[0]?.json.platforms.find((p) => p.platform === "linux/amd64");
  if (amd64) s.headline.push(`image (Bun, single-file, gzip, deb:bookworm), linux/amd64: ${MB(amd64.compressedBytes)} MB compressed, ${MB(amd64.uncompressedBytes)} MB uncompressed`);

  const peers = [
    ["the post: `runtime-deps:10.0` + NativeAOT Todo API", "uncompressed (`docker image ls` SIZE)", "289 MB", "post"],
    ["the post: `runtime-deps:10.0-noble-chiseled` + NativeAOT", "uncompressed (`docker image ls` SIZE)", "88.3 MB", "post"],
    ["the post: `runtime-deps:10.0-noble-chiseled-extra` + NativeAOT", "uncompressed (`docker image ls` SIZE)", "160 MB", "post"],
    [".NET releasesapi sample, NativeAOT on `runtime-deps:10.0-noble-chiseled`", "compressed", "11.60 MB", "dotnet-docker"],
    [".NET releasesapi sample, NativeAOT on `runtime-deps:10.0`", "compressed", "51.27 MB", "dotnet-docker"],
    [".NET releasesapi sample, NativeAOT on `runtime-deps:10.0-noble-chiseled-extra`", "compressed", "26.56 MB", "dotnet-docker"],
    ["`oven/bun:canary-distroless` (the runtime alone, no app), linux/amd64 / linux/arm64", "compressed (Docker Hub)", "46.71 MB / 47.29 MB", "docker-hub"],
  ];
  return [
    "Compressed = layer blob bytes as stored and pushed; uncompressed = layer tar bytes (what unpacks to disk). MB = 10⁶ bytes. Both measured by `aotpack build --json` in this run. " +
      (quick ? "`--quick` builds only the default variant." : "zstd rows run the CLI under Node " + (hostHasZstd ? process.version : `${NODE_SEA_VERSION} (the SEA compiler's cached runtime)`) + ", since zstd needs Node ≥ 22.15."),
    "",
    "`scratch` has no libc, so these glibc-linked executables cannot start on it: its rows only show what the base costs. " +
      "The Node SEA variants' Debian base is resolved from the mirror into a lock in the run's temp dir (the example's aotpack.lock pins only what Bun needs).",
    "",
    mdTable(["variant (runtime, layout, compression, base)", "platform", "compressed MB", "uncompressed MB", "base layer MB (compressed)", "app layers (compressed)", "compressed vs default"], rows),
    "",
    "Peers' published figures (not measured here: no container registry on the internet from this machine). Read the metric column: the post's figures are uncompressed, the others compressed.",
    "",
    mdTable(["image", "metric", "size", "source"], peers),
    "",
    "Sources: **post**: guitarrapc, *C# NativeAOTをDockerでビルドする* (tech.guitarrapc.com, 2025-11-23), its base image table. " +
      "**dotnet-docker**: [.NET image size comparison](https://github.com/dotnet/dotnet-docker/blob/main/documentation/sample-image-size-report.md) (releasesapi sample, November 2025 snapshot). " +
      "**docker-hub**: [oven/bun tags](https://hub.docker.com/r/oven/bun/tags), `canary-distroless` as crawled (a moving tag; the Bun runtime on distroless, before any app).",
  ].join("\n");
}

// ---- 3. runtime ---------------------------------------------------------------------------

function checkTodo(path: string, body: string): void {
  const json = JSON.parse(body) as unknown;
  if (path === "/todos") {
    if (!Array.isArray(json) || json.length !== 5 || (json[0] as { id?: number }).id !== 1) throw new Error(`GET /todos: unexpected body ${body.slice(0, 200)}`);
  } else if (path === "/todos/3") {
    if ((json as { id?: number }).id !== 3) throw new Error(`GET /todos/3: unexpected body ${body.slice(0, 200)}`);
  }
}

async function runtime(s: State): Promise<string> {
  const host = parsePlatform(process.arch === "arm64" ? "linux/arm64" : "linux/amd64");
  const out = join(s.work, "runtime");
  log("runtime: compiling the Bun executable and the Node SEA for this host");
  const bun = await (await compilerFor("bun")).compile({ projectDir: PROJECT, platform: host, layout: "single-file", outDir: join(out, "bun") });
  const sea = await (await compilerFor("node")).compile({ projectDir: PROJECT, platform: host, layout: "single-file", outDir: join(out, "node") });
  const cases = [
    { name: "Bun executable (`bun build --compile`)", argv: [bun.layers[0]!.files[0]!.source] },
    { name: `Node SEA executable (Node ${NODE_SEA_VERSION})`, argv: [sea.layers[0]!.files[0]!.source] },
    { name: "`bun src/server.ts` (from source)", argv: [installedBun().executable, "src/server.ts"], cwd: PROJECT },
    { name: `\`node --import tsx src/server.ts\` (from source, Node ${process.versions.node})`, argv: [process.execPath, "--import", "tsx", "src/server.ts"], cwd: PROJECT },
  ];
  const results: RuntimeResult[] = [];
  for (const c of cases) {
    log(`runtime: ${c.name}`);
    results.push(await measureRuntime(c, { starts: N.starts, wrkSeconds: N.wrkSeconds, warmupSeconds: N.warmupSeconds, paths: ["/todos", "/todos/3"], check: checkTodo }));
  }
  s.runtime = results;
  const ref = results[0]!;
  const startRows = results.map((r) => [r.name, fmtStats(r.firstOkMs, "ms", 1), ratio(r.firstOkMs.median, ref.firstOkMs.median), MB(r.idleRssBytes), MB(r.loadRssBytes), ratio(r.loadRssBytes, ref.loadRssBytes)]);
  const loadRows = results.flatMap((r) =>
    Object.entries(r.wrk).map(([path, w]) => [r.name, `GET ${path}`, w.requestsPerSecond.toFixed(0), ratio(w.requestsPerSecond, ref.wrk[path]!.requestsPerSecond), w.p99Ms.toFixed(2)]),
  );
  s.headline.push(`start to first 200: Bun executable ${ref.firstOkMs.median.toFixed(0)} ms, Node SEA ${results[1]!.firstOkMs.median.toFixed(0)} ms; GET /todos ${ref.wrk["/todos"]!.requestsPerSecond.toFixed(0)} req/s (Bun executable)`);
  return [
    `All on this host (${host.architecture}), on 127.0.0.1. Start: spawn to the first 200 of GET /todos, polling every 5 ms, median of ${N.starts} starts. ` +
      `RSS: VmRSS from /proc/PID/status (MB = 10⁶ bytes), idle = 0.5 s after the first answers, under load = the highest value sampled every 100 ms during wrk. ` +
      `Load: \`wrk -t1 -c32 -d${N.wrkSeconds}s --latency\` (Debian's wrk) per path${N.warmupSeconds ? `, after a ${N.warmupSeconds} s warm-up` : ""}; runs with errors or non-2xx answers fail the benchmark. Ratios are against the Bun executable.`,
    "",
    mdTable(["runtime", "start → first 200, ms", "start vs Bun exe", "RSS idle MB", "RSS under load MB", "load RSS vs Bun exe"], startRows),
    "",
    mdTable(["runtime", "request", "requests/s", "req/s vs Bun exe", "p99 latency, ms"], loadRows),
  ].join("\n");
}

// ---- 4. registry -----------------------------------------------------------------------------

async function registry(s: State): Promise<string> {
  let image = s.cold ? { layout: s.cold.layout, json: s.cold.runs[0]!.json } : undefined;
  if (!image) {
    // The build section did not run (--only) or failed: build the image here.
    const layout = join(s.work, "registry-oci");
    const r = await aotpackJson(buildArgs(PROJECT, layout), { cacheDir: await freshCache(join(s.work, "caches"), s.seed) });
    checkBuild(r.json, "build for the registry section");
    image = { layout, json: r.json };
  }
  log("registry: Todo API push and pull, ours vs skopeo");
  const t = await registryTimes(image.layout, "latest", N.registry, s.work);
  const bytes = image.json.platforms.reduce((a, p) => a + p.compressedBytes, 0);
  log(`registry: synthetic ${N.pushMb} MiB × 2 push (runPushBench)`);
  const big = await runPushBench({ sizeMb: N.pushMb, repeats: N.registry, onProgress: (m) => log(`push bench: ${m}`) });
  s.headline.push(`push of the Todo API: ${t.pushOurs.median.toFixed(2)} s (skopeo ${t.pushSkopeo.median.toFixed(2)} s); pull ${t.pullOurs.median.toFixed(2)} s (skopeo ${t.pullSkopeo.median.toFixed(2)} s)`);
  return [
    `Local docker-registry (Debian's, distribution 2.8) on 127.0.0.1, plain HTTP. Each push goes to a fresh, empty registry; each pull into a fresh OCI layout (ours: pull into an empty blob cache, then write the layout). The order of the tools alternates between repeats. Times in seconds, median of ${N.registry}.`,
    "",
    mdTable(["operation", `Todo API image (${MB(bytes)} MB, 2 platforms), seconds`, "time vs skopeo (below 1 = faster)"], [
      ["push: aotpack", sec(t.pushOurs), ratio(t.pushOurs.median, t.pushSkopeo.median)],
      ["push: `skopeo copy --all oci:… docker://…`", sec(t.pushSkopeo), "1.00×"],
      ["pull: aotpack (pull + write OCI layout)", sec(t.pullOurs), ratio(t.pullOurs.median, t.pullSkopeo.median)],
      ["… of which: fetch into aotpack's blob cache", sec(t.pullOursFetch), ratio(t.pullOursFetch.median, t.pullSkopeo.median)],
      ["pull: `skopeo copy --all docker://… oci:…`", sec(t.pullSkopeo), "1.00×"],
    ]),
    "",
    `Bulk push (bench/push.ts): 2 platforms × ${N.pushMb} MiB of incompressible gzip layer, ${(big.bytes / 1e6).toFixed(1)} MB of blobs.`,
    "",
    mdTable(["tool", "time, seconds", "MiB/s (median)", "time vs skopeo (below 1 = faster)"], [
      ["aotpack", sec(big.ours), big.oursMiBps.toFixed(1), ratio(big.ours.median, big.skopeo.median)],
      ["skopeo copy --all", sec(big.skopeo), big.skopeoMiBps.toFixed(1), "1.00×"],
    ]),
  ].join("\n");
}

// ---- compile and layering (the other helpers' benches) -------------------------------------------

async function compileAndLayering(s: State): Promise<string> {
  log("compile bench (bench/compile.ts)");
  const rows = await runCompileBench({
    projectDir: PROJECT,
    path: "/todos",
    ...(quick ? { compilers: ["bun" as const], archs: ["amd64" as const], starts: 1 } : { starts: 3 }),
    onProgress: (m) => log(`compile bench: ${m}`),
  });
  log("layering bench (bench/layering.ts)");
  const newerNode = process.arch === "x64" && !quick ? await ensureNodeRuntime(parsePlatform("linux/amd64")) : undefined;
  const layering = await runLayeringBench({
    sizeMb: N.layerMb,
    ...(quick ? { compressions: ["gzip" as const] } : {}),
    ...(newerNode ? { nodePath: newerNode } : {}),
    onProgress: (m) => log(`layering bench: ${m}`),
  });
  void s;
  return [
    "### Compile (bench/compile.ts)",
    "",
    "Per compiler and target: compile time, binary size raw/gzip (level 6)/zstd (level 3), exec → first 200 of GET /todos (median of the starts) and RSS after warm-up requests. arm64 rows run under qemu-user: their start and RSS include translation and compare only with each other. MB = 10⁶ bytes.",
    "",
    formatCompileBench(rows),
    "",
    "### Layering (bench/layering.ts)",
    "",
    `One ${N.layerMb} MiB file (half random, half text) into a layer blob, each in a fresh child process; peak RSS is the child's maxRSS.`,
    "",
    layeringTable(layering),
  ].join("\n");
}

// ---- 5. what the numbers mean ---------------------------------------------------------------------

async function gzipSize(path: string): Promise<number> {
  let n = 0;
  await pipeline(createReadStream(path), createGzip({ level: 6 }), new Writable({ write: (c: Buffer, _e, cb) => ((n += c.length), cb()) }));
  return n;
}

async function meaning(s: State): Promise<string> {
  const cold = s.cold?.runs[0]?.json;
  const amd64 = cold?.platforms.find((p) => p.platform === "linux/amd64");
  if (!cold || !amd64) return "Not available: the build section failed.";
  const runtimeGz = await gzipSize(await ensureBunRuntime(parsePlatform("linux/amd64")));
  const baseGz = amd64.layers.filter((l) => l.origin === "base").reduce((a, l) => a + l.compressedBytes, 0);
  const appGz = amd64.layers.filter((l) => l.origin === "app").reduce((a, l) => a + l.compressedBytes, 0);
  const floor = runtimeGz + baseGz;
  const compileMs = Math.max(...cold.platforms.map((p) => p.compileMs));
  const coldSeconds = s.aotColdMedian ?? cold.elapsedMs / 1000;
  const lines = [
    `- **Physical floor.** A Bun executable is the Bun runtime plus the bundled app. The runtime binary alone (\`@oven/bun-linux-x64\` ${installedBun().version}) gzips to ${MB(runtimeGz)} MB, ` +
      `and the smallest glibc base that runs it (deb:bookworm, sliced to what the ELF needs, plus CA certificates) is ${MB(baseGz)} MB compressed: a floor of ${MB(floor)} MB. ` +
      `We ship ${MB(amd64.compressedBytes)} MB for linux/amd64 (app layer ${MB(appGz)} MB), ${ratio(amd64.compressedBytes, floor)} the floor, ${((amd64.compressedBytes - floor) / 1e3).toFixed(0)} kB above it: ` +
      "that is the bundled app, the executable's own framing and the tar headers. Further savings must come from the runtime itself (a smaller engine), not from the image.",
    `- **Peers.** The .NET NativeAOT sample on chiseled Ubuntu is 11.6 MB compressed because its native code carries no JavaScript engine; a JavaScript app shipped as one executable cannot go under the engine's size. Against a Bun-based peer, \`oven/bun:canary-distroless\` alone is about 47 MB compressed before any app; against the post, its smallest image was 88.3 MB uncompressed and ours is ${MB(amd64.uncompressedBytes)} MB uncompressed.`,
    `- **Compile vs build.** In the cold build, compiling took ${(compileMs / 1000).toFixed(2)} s (the slower platform; both compile in parallel) of ${coldSeconds.toFixed(2)} s in total (${((compileMs / 1000 / coldSeconds) * 100).toFixed(0)} %); the rest is CLI start-up, resolving the Debian base, layering (gzip of ~${MB(amd64.uncompressedBytes)} MB per platform) and writing the layout. Warm builds skip compile and layering, so their time is start-up, hashing and writing.`,
  ];
  if (s.crossCold && s.aotColdMedian) {
    lines.push(`- **Dockerfile vs aotpack.** The generated Dockerfile, cross-compiling, took ${ratio(s.crossCold.median, s.aotColdMedian)} aotpack's cold time here; most of the difference is the build tool's overhead (container setup, copying the context and layers in its store), not compiling.`);
  }
  if (s.emuCold && s.crossCold) {
    const stageNote = s.stage
      ? ` The build stage alone: ${s.stage.arm64Emulated.toFixed(1)} s emulated on arm64 vs ${s.stage.amd64.toFixed(1)} s native on amd64 (${ratio(s.stage.arm64Emulated, s.stage.amd64)}).`
      : "";
    lines.push(
      `- **Emulation.** Running the arm64 build stage under qemu made the whole build ${ratio(s.emuCold.median, s.crossCold.median)} the cross-compiling one.${stageNote} The post measured ${ratio(POST.emulatedSeconds, POST.nativeSeconds)} (${POST.emulatedSeconds} s vs ${POST.nativeSeconds} s) for its emulated \`apt-get install clang\` step. ` +
        "The tax grows with the work done in the emulated stage: here it only bundles a small app onto a prebuilt runtime, the post's installed a compiler toolchain. Cross-compiling stages, and aotpack, which has no build container at all, do not pay it.",
    );
  }
  return lines.join("\n");
}

// ---- the run ---------------------------------------------------------------------------------

const DOTNET_TITLE = "6. .NET NativeAOT: aotpack build vs the post's fixed Dockerfile";

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

async function main(): Promise<void> {
  const unknown = [...(only ?? [])].filter((k) => !SECTION_KEYS.includes(k));
  if (unknown.length) throw new Error(`--only: unknown section(s) ${unknown.join(", ")}; known: ${SECTION_KEYS.join(", ")}`);
  const work = await mkdtemp(join(tmpdir(), "aotpack-bench-"));
  const s: State = { work, seed: cacheRoot(), headline: [], failures: [] };
  const startedAt = new Date();
  const loadBefore = loadavg().map((l) => l.toFixed(2)).join(", ");
  const parts: { title: string; body: string }[] = [];
  const section = async (key: string, title: string, fn: () => Promise<string>): Promise<void> => {
    if (only && !only.has(key)) return;
    try {
      parts.push({ title, body: await fn() });
    } catch (err) {
      const msg = errorMessage(err);
      log(`FAILED: ${title}: ${msg.split("\n")[0]}`);
      s.failures.push(`${title}: ${msg.split("\n")[0]}`);
      parts.push({ title, body: `**FAILED**: \n\n\`\`\`\n${msg.slice(0, 3000)}\n\`\`\`` });
    }
  };
  try {
    log(`${quick ? "quick" : "full"} run; work dir ${work}; seed cache ${s.seed}`);
    await prepare(s);
    await section("builds", "1a. Builds: aotpack", () => aotpackBuilds(s));
    await section("dockerfile", "1b. Builds: the Dockerfile path", () => dockerfileBuilds(s));
    await section("chunked", "1c. Chunked, cached deflate vs one gzip stream", async () => {
      // Eight more builds: too many for the CI smoke run; `--only=chunked` runs it alone.
      if (quick) return "Not run by `--quick` (eight more builds); `npm run bench -- --only=chunked` runs it alone.";
      const r = await chunkedBench({ work: s.work, seed: s.seed, project: PROJECT, platforms: PLATFORMS, log });
      s.headline.push(...r.headline);
      return `${r.markdown}\n\n${await encodersBench(log)}`;
    });
    await section("sizes", "2. Image size", () => sizes(s));
    await section("runtime", "3. Runtime", () => runtime(s));
    await section("registry", "4. Registry", () => registry(s));
    await section("compile", "Compile and layering", () => compileAndLayering(s));
    if (quick) parts.push({ title: DOTNET_TITLE, body: "Skipped in --quick: run `npm run bench -- --only=dotnet --merge`." });
    else {
      await section("dotnet", DOTNET_TITLE, () =>
        dotnetSection({ work: s.work, seed: s.seed, ...DOTNET_N, ...(s.cold ? { bunLayout: s.cold.layout } : {}), log, headline: s.headline }),
      );
    }
    await section("meaning", "5. What these numbers mean", () => meaning(s));

    const info = machineInfo();
    const seconds = (performance.now() - runStarted) / 1000;
    const doc = [
      quick ? "# aotpack benchmarks (quick smoke run)" : "# aotpack benchmarks",
      "",
      `Generated by \`npm run bench${quick ? " -- --quick" : ""}\` (bench/run.ts) on ${startedAt.toISOString()}; the run took ${(seconds / 60).toFixed(1)} minutes. Do not edit by hand: run it again.`,
      "Every ratio compares numbers measured side by side in this run. The host is shared and noisy: times are medians with min and max, and only ratios within one run mean much.",
      "",
      "## Machine",
      "",
      mdTable(["fact", "value"], [
        ["cores", info.cores!],
        ["CPU", info.cpu!],
        ["memory", info.memory!],
        ["kernel", info.kernel!],
        ["Node", info.node!],
        ["Bun", info.bun!],
        ["qemu", info.qemu!],
        ["buildah", info.buildah!],
        ["skopeo", info.skopeo!],
        ["load average at start (1, 5, 15 min)", loadBefore],
        ["load average at end", loadavg().map((l) => l.toFixed(2)).join(", ")],
      ]),
      "",
      "## Headline",
      "",
      ...s.headline.map((h) => `- ${h}`),
      ...(s.failures.length ? ["", `**${s.failures.length} section(s) failed:**`, ...s.failures.map((f) => `- ${f}`)] : []),
      "",
      ...parts.flatMap((p) => [`## ${p.title}`, "", p.body, ""]),
    ].join("\n");
    if (merge) {
      if (!only) throw new Error("--merge goes with --only=<sections>");
      const existing = await readFile(OUTPUT, "utf8");
      await writeAtomic(OUTPUT, mergeReport(existing, { parts, headline: s.headline, note: `Sections ${parts.map((p) => `"${p.title}"`).join(", ")} from \`npm run bench -- --only=${onlyArg} --merge\` on ${startedAt.toISOString()}.` }));
    } else await writeAtomic(OUTPUT, doc);
    log(`wrote ${OUTPUT}`);
    process.stdout.write(`${s.headline.map((h) => `- ${h}`).join("\n")}\n`);
    if (s.failures.length) {
      process.stderr.write(`bench: ${s.failures.length} section(s) failed:\n${s.failures.map((f) => `  ${f}`).join("\n")}\n`);
      process.exitCode = 1;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench: ${errorMessage(err)}\n`);
  process.exitCode = 1;
}
