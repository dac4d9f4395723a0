/**
 * Debug symbols (NativeAOT's `.dbg`) beside the outputs, never in the image:
 * `-o oci:dist/app:tag` → `dist/app.symbols/<os>-<arch>/X.dbg`; archives drop their extension
 * (`dist/app.tar` → `dist/app.symbols/`). Registry outputs have no place on disk: the symbols
 * stay in the compile cache (reported). Each output's folder is replaced as a whole (temp + rename).
 */
import { copyFile, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import type { OutputSpec } from "./outputs.ts";
import type { PlatformBuild } from "./build.ts";

export function symbolsDirFor(output: OutputSpec): string | undefined {
  if (output.kind === "registry") return undefined;
  const target = output.kind === "oci" ? output.target : join(dirname(output.target), basename(output.target, extname(output.target)));
  return `${target.replace(/\/+$/, "")}.symbols`;
}

/** Writes every platform's symbols for each file output; returns the folders written. */
export async function writeSymbols(platforms: PlatformBuild[], outputs: OutputSpec[]): Promise<string[]> {
  if (!platforms.some((p) => p.artifact.symbols?.length)) return [];
  const written: string[] = [];
  for (const dir of new Set(outputs.map(symbolsDirFor).filter((d): d is string => d !== undefined))) {
    await mkdir(dirname(dir), { recursive: true });
    const tmp = await mkdtemp(`${dir}.tmp-`);
    try {
      for (const p of platforms) {
        const sub = join(tmp, `${p.platform.os}-${p.platform.architecture}${p.platform.variant ? `-${p.platform.variant}` : ""}`);
        await mkdir(sub, { recursive: true });
        for (const file of p.artifact.symbols ?? []) await copyFile(file, join(sub, basename(file)));
      }
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
      written.push(dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
  return written;
}
