/**
 * Push benchmark: a two-platform image (one ~100 MB incompressible gzip layer per platform)
 * from one OCI layout to a local docker-registry, by aotpack's registry client and by
 * `skopeo copy --all`, side by side in the same run. Each push goes to a fresh registry
 * (empty storage), and the order alternates between repeats.
 *
 *   node --import tsx bench/push.ts [--size-mb 100] [--repeats 3]
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createLayer } from "../src/oci/layer.ts";
import { readLayout } from "../src/oci/layout-source.ts";
import { appendLayers, emptyImage, newIndex } from "../src/oci/mutate.ts";
import { parsePlatform } from "../src/oci/platform.ts";
import { writeLayout } from "../src/publish/index.ts";
import { push } from "../src/registry/publisher.ts";
import { startRegistry } from "../test/support/registry.ts";
import { fmtStats, machineInfo, mdTable, now, ratio, since, stats, type Stats } from "./lib.ts";

const run = promisify(execFile);

export interface PushBenchOptions {
  /** MiB per platform layer; default 100. */
  sizeMb?: number;
  /** Pushes per tool; default 3. */
  repeats?: number;
  onProgress?: (message: string) => void;
}

export interface PushBenchResult {
  /** Bytes of blobs pushed per run (layers + configs). */
  bytes: number;
  ours: Stats;
  skopeo: Stats;
  oursMiBps: number;
  skopeoMiBps: number;
  /** skopeo time / our time: above 1 means we are faster. */
  speedup: number;
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const chunk = 1024 * 1024;
  for (let left = bytes; left > 0; left -= chunk) {
    if (!out.write(randomBytes(Math.min(chunk, left)))) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((resolveEnd, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolveEnd())));
}

export async function runPushBench(options: PushBenchOptions = {}): Promise<PushBenchResult> {
  const sizeMb = options.sizeMb ?? 100;
  const repeats = options.repeats ?? 3;
  const log = options.onProgress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), "aotpack-bench-push-"));
  try {
    log(`building a 2 × ${sizeMb} MiB image`);
    const images = [];
    for (const p of ["linux/amd64", "linux/arm64"]) {
      const file = join(dir, `payload-${p.replace("/", "-")}`);
      await writeRandomFile(file, sizeMb * 1024 * 1024);
      // gzip, as images are pushed: skopeo would gzip an uncompressed layer on the way
      // (and so measure compression, not pushing). Random bytes stay ~100 MB compressed.
      const layer = await createLayer([{ path: "/app/payload.bin", type: "file", source: file }], { compression: "gzip", blobDir: join(dir, "blobs") });
      images.push({ image: appendLayers(emptyImage(parsePlatform(p)), [{ layer }]) });
      await rm(file);
    }
    const layoutDir = join(dir, "layout");
    await writeLayout(layoutDir, newIndex(images), { tag: "bench" });
    await rm(join(dir, "blobs"), { recursive: true, force: true });
    const source = await (await readLayout(layoutDir)).resolve("bench");
    let bytes = 0;
    for (const b of (await import("../src/publish/blobs.ts").then((m) => m.planPublish(source))).blobs) if (b.kind !== "manifest") bytes += b.size;

    const oursTimes: number[] = [];
    const skopeoTimes: number[] = [];
    const timeOurs = async (): Promise<void> => {
      const registry = await startRegistry();
      try {
        const t0 = now();
        await push(source, `${registry.host}/bench/ours:bench`, { credentials: null });
        oursTimes.push(since(t0) / 1000);
      } finally {
        await registry.stop();
      }
    };
    const timeSkopeo = async (): Promise<void> => {
      const registry = await startRegistry();
      try {
        const t0 = now();
        await run("skopeo", ["--insecure-policy", "copy", "--all", "--quiet", "--dest-tls-verify=false", `oci:${layoutDir}:bench`, `docker://${registry.host}/bench/skopeo:bench`], { timeout: 600_000 });
        skopeoTimes.push(since(t0) / 1000);
      } finally {
        await registry.stop();
      }
    };
    for (let i = 0; i < repeats; i++) {
      log(`run ${i + 1}/${repeats}`);
      if (i % 2 === 0) {
        await timeOurs();
        await timeSkopeo();
      } else {
        await timeSkopeo();
        await timeOurs();
      }
    }
    const ours = stats(oursTimes);
    const skopeo = stats(skopeoTimes);
    const mibTotal = bytes / 1024 / 1024;
    return { bytes, ours, skopeo, oursMiBps: mibTotal / ours.median, skopeoMiBps: mibTotal / skopeo.median, speedup: skopeo.median / ours.median };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string): number | undefined => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const r = await runPushBench({ sizeMb: arg("--size-mb"), repeats: arg("--repeats"), onProgress: (m) => console.error(m) });
  const machine = machineInfo();
  console.log(`push of ${(r.bytes / 1024 / 1024).toFixed(1)} MiB (2 platforms) to a local docker-registry; ${machine.cores} cores, ${machine.cpu}, node ${machine.node}, ${machine.skopeo}\n`);
  console.log(
    mdTable(
      ["tool", "time", "MiB/s (median)", "vs skopeo"],
      [
        ["aotpack", fmtStats(r.ours, "s"), r.oursMiBps.toFixed(1), ratio(r.skopeo.median, r.ours.median) + " faster"],
        ["skopeo copy --all", fmtStats(r.skopeo, "s"), r.skopeoMiBps.toFixed(1), "1.00×"],
      ],
    ),
  );
}
