/**
 * Shared bench helpers: machine facts, repeated timing with median/min/max, and Markdown
 * tables. Ratios are only ever computed between numbers measured in the same run.
 */
import { execFileSync } from "node:child_process";
import { cpus, totalmem, release } from "node:os";
import { createRequire } from "node:module";

export interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stats(values: number[]): Stats {
  if (values.length === 0) throw new Error("stats of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

export async function repeat(n: number, fn: () => Promise<number>): Promise<Stats> {
  const values: number[] = [];
  for (let i = 0; i < n; i++) values.push(await fn());
  return stats(values);
}

export function fmtStats(s: Stats, unit: string, digits = 2): string {
  return `${s.median.toFixed(digits)} ${unit} (min ${s.min.toFixed(digits)}, max ${s.max.toFixed(digits)}, n=${s.n})`;
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "n/a";
  return `${(a / b).toFixed(2)}×`;
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(2);
}

export function mdTable(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c)).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "not found";
  }
}

export function machineInfo(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const bunPkg = require("bun/package.json") as { version: string };
  return {
    cores: String(cpus().length),
    cpu: cpus()[0]?.model ?? "unknown",
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    bun: bunPkg.version,
    qemu: tryRun("qemu-aarch64-static", ["--version"]).split("\n")[0] ?? "",
    skopeo: tryRun("skopeo", ["--version"]),
    buildah: tryRun("buildah", ["--version"]),
  };
}

/** Milliseconds since `t0` from a monotonic clock. */
export function since(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const now = () => process.hrtime.bigint();
