/**
 * Layering benchmark: turn one big file (default 200 MB, half random, half text-like)
 * into a layer blob with gzip and with zstd, each in a fresh child process, and report
 * throughput and the child's peak RSS (process.resourceUsage().maxRSS). A baseline
 * child that only loads the same modules shows what Node itself costs.
 *
 *   node --import tsx bench/layering.ts [--size-mb 200] [--node /path/to/newer/node]
 *
 * zstd needs Node >= 22.15; with an older Node the row says so (pass --node, or set
 * AOTPACK_BENCH_NODE, to run the children under a newer Node).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Compression } from "../src/oci/media-types.ts";
import { machineInfo, mdTable, mib } from "./lib.ts";

export interface LayeringBenchOptions {
  /** Size of the input file in MiB; default 200. */
  sizeMb?: number;
  compressions?: Compression[];
  /** Node binary for the children (e.g. a newer Node for zstd); default this process's. */
  nodePath?: string;
  onProgress?: (message: string) => void;
}

export interface LayeringBenchRow {
  compression: Compression | "baseline";
  status: "ok" | "unavailable";
  note?: string;
  inputBytes: number;
  blobBytes?: number;
  seconds?: number;
  /** Uncompressed input MiB per second. */
  mibPerSecond?: number;
  peakRssBytes?: number;
  node: string;
}

export interface LayeringBenchResult {
  rows: LayeringBenchRow[];
  /** The streaming goal from issue 2: peak RSS while layering stays under this. */
  rssLimitBytes: number;
}

const SELF = fileURLToPath(import.meta.url);
const RSS_LIMIT = 150 * 1024 * 1024;

/** Half incompressible, half compressible, written in 1 MiB chunks (never held whole). */
async function writeInput(path: string, sizeMb: number): Promise<number> {
  const out = createWriteStream(path);
  const chunk = 1024 * 1024;
  let text = "";
  for (let i = 0; text.length < chunk; i++) text += `line ${i}: the quick brown fox jumps over the lazy dog ${i % 97}\n`;
  const textChunk = Buffer.from(text.slice(0, chunk));
  for (let i = 0; i < sizeMb; i++) {
    const data = i % 2 === 0 ? randomBytes(chunk) : textChunk;
    if (!out.write(data)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((resolvePromise, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolvePromise())));
  return sizeMb * chunk;
}

interface ChildReport {
  ok: boolean;
  error?: string;
  seconds?: number;
  blobBytes?: number;
  maxRssKb: number;
  node: string;
}

function runChild(nodePath: string, args: string[]): Promise<ChildReport> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(nodePath, ["--import", "tsx", SELF, "--child", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
      cwd: resolve(SELF, "..", ".."),
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, "SIGKILL"), 15 * 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").at(-1) ?? "";
      try {
        resolvePromise(JSON.parse(line) as ChildReport);
      } catch {
        reject(new Error(`bench child exited ${code} without a report: ${out.slice(-500)}`));
      }
    });
  });
}

async function childMain(args: string[]): Promise<void> {
  const [mode, input, compression, blobDir] = args as [string, string, Compression, string];
  const { createLayer } = await import("../src/oci/layer.ts");
  const report = (r: Omit<ChildReport, "maxRssKb" | "node">): void => {
    process.stdout.write(`${JSON.stringify({ ...r, maxRssKb: process.resourceUsage().maxRSS, node: process.version })}\n`);
  };
  if (mode === "baseline") return report({ ok: true });
  const t0 = process.hrtime.bigint();
  try {
    const layer = await createLayer([{ path: "/app/big", type: "file", source: input, mode: 0o755 }], { compression, blobDir, sourceDateEpoch: 0 });
    report({ ok: true, seconds: Number(process.hrtime.bigint() - t0) / 1e9, blobBytes: await layer.size() });
  } catch (err) {
    report({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

export async function runLayeringBench(options: LayeringBenchOptions = {}): Promise<LayeringBenchResult> {
  const sizeMb = options.sizeMb ?? 200;
  const compressions = options.compressions ?? ["gzip", "zstd"];
  const nodePath = options.nodePath ?? process.env.AOTPACK_BENCH_NODE ?? process.execPath;
  const log = options.onProgress ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), "aotpack-bench-layering-"));
  try {
    const input = join(dir, "input.bin");
    log(`writing a ${sizeMb} MiB input file`);
    const inputBytes = await writeInput(input, sizeMb);
    const rows: LayeringBenchRow[] = [];
    const base = await runChild(nodePath, ["baseline", input, "gzip", join(dir, "blobs")]);
    rows.push({ compression: "baseline", status: "ok", note: "modules loaded, nothing layered", inputBytes: 0, peakRssBytes: base.maxRssKb * 1024, node: base.node });
    for (const compression of compressions) {
      log(`layering with ${compression}`);
      const r = await runChild(nodePath, ["layer", input, compression, join(dir, "blobs")]);
      if (!r.ok) {
        const unavailable = /needs Node/.test(r.error ?? "");
        if (!unavailable) throw new Error(`layering with ${compression} failed: ${r.error}`);
        rows.push({ compression, status: "unavailable", note: `unavailable on Node ${r.node}`, inputBytes, node: r.node });
        continue;
      }
      rows.push({
        compression,
        status: "ok",
        inputBytes,
        blobBytes: r.blobBytes,
        seconds: r.seconds,
        mibPerSecond: inputBytes / 1024 / 1024 / (r.seconds ?? Number.NaN),
        peakRssBytes: r.maxRssKb * 1024,
        node: r.node,
      });
      await rm(join(dir, "blobs"), { recursive: true, force: true });
    }
    return { rows, rssLimitBytes: RSS_LIMIT };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function layeringTable(result: LayeringBenchResult): string {
  return mdTable(
    ["compression", "input MiB", "blob MiB", "seconds", "MiB/s", "peak RSS MiB", `under ${mib(result.rssLimitBytes)} MiB`, "node", "note"],
    result.rows.map((r) => [
      r.compression,
      r.inputBytes ? mib(r.inputBytes) : "-",
      r.blobBytes !== undefined ? mib(r.blobBytes) : "-",
      r.seconds !== undefined ? r.seconds.toFixed(2) : "-",
      r.mibPerSecond !== undefined ? r.mibPerSecond.toFixed(1) : "-",
      r.peakRssBytes !== undefined ? mib(r.peakRssBytes) : "-",
      r.peakRssBytes !== undefined ? (r.peakRssBytes < result.rssLimitBytes ? "yes" : "NO") : "-",
      r.node,
      r.note ?? "",
    ]),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    await childMain(args.slice(1));
  } else {
    const flag = (name: string): string | undefined => {
      const i = args.indexOf(name);
      return i >= 0 ? args[i + 1] : undefined;
    };
    const sizeMb = flag("--size-mb") ? Number(flag("--size-mb")) : undefined;
    const nodePath = flag("--node");
    const result = await runLayeringBench({
      ...(sizeMb !== undefined ? { sizeMb } : {}),
      ...(nodePath ? { nodePath } : {}),
      onProgress: (m) => console.error(`# ${m}`),
    });
    const info = machineInfo();
    console.log(`Layering benchmark (${info.cores} cores, ${info.cpu}, Node ${info.node})\n`);
    console.log(layeringTable(result));
    const over = result.rows.filter((r) => r.compression !== "baseline" && r.peakRssBytes !== undefined && r.peakRssBytes >= result.rssLimitBytes);
    if (over.length) {
      console.error(`peak RSS over ${mib(result.rssLimitBytes)} MiB for: ${over.map((r) => r.compression).join(", ")}`);
      process.exitCode = 1;
    }
  }
}
