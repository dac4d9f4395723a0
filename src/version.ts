/** aotpack's own version, from its package.json (for --version, SBOM creators and provenance). */
import { createRequire } from "node:module";

export function aotpackVersion(): string {
  const require = createRequire(import.meta.url);
  for (const p of ["../package.json", "../../package.json"]) {
    try {
      const pkg = require(p) as { name?: string; version: string };
      if (pkg.name === "aotpack") return pkg.version;
    } catch {
      // Built (dist/) and source (src/) layouts differ by one level.
    }
  }
  return "0.0.0";
}
