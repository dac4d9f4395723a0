/** Tables for the end of a build, and JSON for --json. Every table's heading names its metric. */
import type { BuildResult } from "../builder/build.ts";
import { formatPlatform } from "../oci/platform.ts";
import type { Compression } from "../oci/media-types.ts";
import { formatBytes } from "./progress.ts";
import { escapeControls } from "../ansi.ts";

/** Cells are escaped (they can name layers, references and media types from outside), then measured. */
export function table(headers: string[], rows: string[][], alignRight: boolean[] = []): string {
  rows = rows.map((r) => r.map(escapeControls));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (alignRight[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [fmt(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)].join("\n");
}

export function sizeTable(result: BuildResult, compression: Compression): string {
  const rows: string[][] = [];
  const unique = new Map<string, { c: number; u: number }>();
  for (const p of result.platforms) {
    let c = 0;
    let u = 0;
    for (const l of p.layers) {
      rows.push([formatPlatform(p.platform), `${l.origin}: ${l.name}`, formatBytes(l.compressedBytes), formatBytes(l.uncompressedBytes), l.digest.slice(0, 19)]);
      c += l.compressedBytes;
      u += l.uncompressedBytes;
      unique.set(l.digest, { c: l.compressedBytes, u: l.uncompressedBytes });
    }
    rows.push([formatPlatform(p.platform), "image total", formatBytes(c), formatBytes(u), p.digest.slice(0, 19)]);
    // Pulled with the index, never unpacked: manifest + config + statements, the same bytes both ways.
    if (p.attestation) rows.push([formatPlatform(p.platform), "attestations (SBOM, provenance)", formatBytes(p.attestation.bytes), formatBytes(p.attestation.bytes), p.attestation.digest.slice(0, 19)]);
  }
  let tc = 0;
  let tu = 0;
  for (const v of unique.values()) {
    tc += v.c;
    tu += v.u;
  }
  rows.push(["all platforms", "unique layers", formatBytes(tc), formatBytes(tu), ""]);
  const heading = `Image size per platform — compressed = layer blob bytes as stored and pushed (${compression}); uncompressed = layer tar bytes (what unpacks to disk)`;
  return `${heading}\n${table(["platform", "layer", "compressed", "uncompressed", "digest"], rows, [false, false, true, true, false])}\nindex digest: ${result.digest}`;
}

/** `users`: each platform's config User, in result.platforms' order; `runsAsRoot`: the plan allowed a root user. */
export function buildJson(result: BuildResult, published: { output: string; reference: string; digest: string }[], run: { users: string[]; runsAsRoot: boolean }) {
  return {
    name: result.appName,
    digest: result.digest,
    elapsedMs: result.elapsedMs,
    runsAsRoot: run.runsAsRoot,
    platforms: result.platforms.map((p, i) => ({
      platform: formatPlatform(p.platform),
      digest: p.digest,
      user: run.users[i] ?? "",
      base: p.base,
      compiledFromCache: p.compiledFromCache,
      compileMs: p.artifact.compileMs,
      entrypoint: p.artifact.entrypoint,
      elf: p.artifact.elf,
      layers: p.layers,
      compressedBytes: p.layers.reduce((a, l) => a + l.compressedBytes, 0),
      uncompressedBytes: p.layers.reduce((a, l) => a + l.uncompressedBytes, 0),
      ...(p.attestation ? { attestation: { digest: p.attestation.digest, bytes: p.attestation.bytes } } : {}),
    })),
    outputs: published,
  };
}
