/**
 * Chunked, cached deflate (src/oci/chunked-compress.ts) against today's single zlib stream,
 * side by side in one run: `aotpack build` of both platforms with AOTPACK_COMPRESSOR=stream and
 * =chunked, each on its own fresh cache (empty chunk cache): cold, warm with no change, a
 * one-line change in single-file mode, and then the first build of a second project on the same
 * Bun runtime. Also the image size ratio, chunk-cache hits per build and its size on disk.
 */
import { readdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { aotpackJson, applyOneLineChange, copyProject, freshCache, REPO, type CliRun } from "./aotpack-cli.ts";
import { mdTable } from "./lib.ts";

export interface ChunkedBenchOptions {
  work: string;
  seed: string;
  project: string;
  platforms: string;
  log: (m: string) => void;
}

const GOALS = { cold: 6, second: 3, change: 2.5, warm: 0.6 };
const ENCODERS = ["stream", "chunked"] as const;
type EncoderName = (typeof ENCODERS)[number];

/** Files and bytes of a chunk cache (two-level `<kk>/<key>`). */
function chunkCacheUsage(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  let subs: string[] = [];
  try {
    subs = readdirSync(dir);
  } catch {
    return { files, bytes };
  }
  for (const sub of subs)
    for (const f of readdirSync(join(dir, sub))) {
      files++;
      bytes += statSync(join(dir, sub, f)).size;
    }
  return { files, bytes };
}

interface Step {
  what: string;
  run: CliRun;
  /** Chunks compressed in this build (new cache entries); chunked only. */
  newChunks: number;
  cacheFiles: number;
  cacheBytes: number;
}

const MB = (b: number): string => (b / 1e6).toFixed(2);
const total = (r: CliRun): number => r.json.platforms.reduce((a, p) => a + p.compressedBytes, 0);

export async function chunkedBench(o: ChunkedBenchOptions): Promise<{ markdown: string; headline: string[] }> {
  const secondProject = join(REPO, "test", "fixtures", "hello-server");
  const results = new Map<EncoderName, Step[]>();
  for (const encoder of ENCODERS) {
    const cache = await freshCache(join(o.work, "caches"), o.seed);
    const chunks = join(cache, "chunks");
    const copy = join(o.work, `chunked-${encoder}-project`);
    copyProject(o.project, copy);
    const steps: Step[] = [];
    // One output per project, kept between its builds, as a user rebuilds into out/: a rebuild writes
    // only the blobs that changed. A project's first build starts from no output.
    const outs = new Set<string>();
    const build = async (what: string, project: string): Promise<void> => {
      o.log(`chunked bench (${encoder}): ${what}`);
      const out = join(o.work, `chunked-${encoder}-out-${project === copy ? "todo-api" : "second"}`);
      if (!outs.has(out)) await rm(out, { recursive: true, force: true });
      outs.add(out);
      const before = chunkCacheUsage(chunks);
      const r = await aotpackJson(["build", project, "--platform", o.platforms, "-o", `oci:${out}:latest`], { cacheDir: cache, env: { AOTPACK_COMPRESSOR: encoder } });
      const after = chunkCacheUsage(chunks);
      steps.push({ what, run: r, newChunks: after.files - before.files, cacheFiles: after.files, cacheBytes: after.bytes });
    };
    await build("cold, both platforms (empty chunk cache)", copy);
    await build("warm, no change", copy);
    applyOneLineChange(copy, 1);
    await build("one-line change, single-file", copy);
    await build("second project, same Bun runtime (first build)", secondProject);
    results.set(encoder, steps);
    await rm(cache, { recursive: true, force: true });
  }
  const stream = results.get("stream")!;
  const chunked = results.get("chunked")!;
  const goals = [GOALS.cold, GOALS.warm, GOALS.change, GOALS.second];
  const rows = chunked.map((c, i) => {
    const s = stream[i]!;
    const chunksPerBuild = c.newChunks;
    return [
      c.what,
      s.run.seconds.toFixed(2),
      c.run.seconds.toFixed(2),
      (s.run.seconds / c.run.seconds).toFixed(2) + "×",
      `≤ ${goals[i]} s: ${c.run.seconds <= goals[i]! ? "met" : "not met"}`,
      chunksPerBuild.toString(),
      `${c.cacheFiles} / ${MB(c.cacheBytes)} MB`,
    ];
  });
  const sizeRows = stream[0]!.run.json.platforms.map((sp) => {
    const cp = chunked[0]!.run.json.platforms.find((p) => p.platform === sp.platform)!;
    return [sp.platform, MB(sp.compressedBytes), MB(cp.compressedBytes), (cp.compressedBytes / sp.compressedBytes).toFixed(5)];
  });
  sizeRows.push(["both", MB(total(stream[0]!.run)), MB(total(chunked[0]!.run)), (total(chunked[0]!.run) / total(stream[0]!.run)).toFixed(5)]);
  const change = chunked[2]!;
  const markdown = [
    "Wall time of `aotpack build <project> --platform linux/amd64,linux/arm64 -o oci:DIR` as a child process, with `AOTPACK_COMPRESSOR=stream` (one zlib stream per layer, level 6: what aotpack did before) and `AOTPACK_COMPRESSOR=chunked` (the default: 1 MiB chunks, each deflated on its own by libdeflate at level 5 in worker_threads, cached by content). " +
      "Each encoder gets its own fresh cache (downloads pre-seeded, empty chunk cache); the rows run in order on it: cold, the same again, a one-line change of `src/app.ts` (single-file layout, the default), then the first build of a second project (`test/fixtures/hello-server`) that uses the same Bun runtime. Each project builds into its own OCI layout, kept between its builds as a user's out/ is (a rebuild writes only the blobs that changed). One run each, on a shared 2-core host.",
    "",
    mdTable(["build", "stream, s", "chunked, s", "speed-up", "goal (chunked)", "chunks compressed (chunked)", "chunk cache after (files / size)"], rows),
    "",
    "Compressed image size, cold build (the base layer included):",
    "",
    mdTable(["platform", "stream MB", "chunked MB", "chunked / stream"], sizeRows),
  ].join("\n");
  const headline = [
    `chunked deflate: one-line change (single-file, 2 platforms) ${change.run.seconds.toFixed(1)} s vs ${stream[2]!.run.seconds.toFixed(1)} s single-stream; ${change.newChunks} chunks compressed; size ×${(total(chunked[0]!.run) / total(stream[0]!.run)).toFixed(4)}`,
  ];
  return { markdown, headline };
}
