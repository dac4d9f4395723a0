/** The NuGet packages a .NET restore resolved (obj/<project>/project.assets.json `libraries`), for the SBOM. */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";

export interface NugetPackage {
  name: string;
  version: string;
  /** base64 sha512 of the .nupkg, as NuGet records it. */
  sha512?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/;
const VERSION = /^[0-9A-Za-z.+-]{1,100}$/;

/** Packages (not project references) in the assets file under `artifactsDir/obj/*`; sorted; unreadable files give none. */
export async function nugetPackages(artifactsDir: string): Promise<NugetPackage[]> {
  const objDir = join(artifactsDir, "obj");
  const out = new Map<string, NugetPackage>();
  for (const project of (await readdir(objDir).catch(() => [] as string[])).sort()) {
    const text = await readFile(join(objDir, project, "project.assets.json"), "utf8").catch(() => undefined);
    if (!text) continue;
    let libraries: Record<string, { type?: unknown; sha512?: unknown }> = {};
    try {
      libraries = (JSON.parse(text) as { libraries?: typeof libraries }).libraries ?? {};
    } catch {
      continue;
    }
    for (const [key, lib] of Object.entries(libraries)) {
      const parts = key.split("/");
      const [name, version] = parts;
      if (parts.length !== 2 || lib?.type !== "package" || !name || !version || !NAME.test(name) || !VERSION.test(version)) continue;
      const p: NugetPackage = { name, version };
      if (typeof lib.sha512 === "string" && /^[A-Za-z0-9+/=]{80,100}$/.test(lib.sha512)) p.sha512 = lib.sha512;
      out.set(key, p);
    }
  }
  return [...out.values()].sort((a, b) => (a.name === b.name ? (a.version < b.version ? -1 : 1) : a.name < b.name ? -1 : 1));
}
