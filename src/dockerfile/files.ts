/** The file side of `aotpack dockerfile` and `aotpack lint [--fix]`: read, write atomically, find .NET project facts. */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { errnoCode, fsError, writeFileAtomic } from "../oci/fs-util.ts";
import { fixDockerfile, type FixResult } from "./fix.ts";
import { lintDockerfile, type LintFinding, type LintOptions } from "./lint.ts";
import type { RenderedDockerfile } from "./render.ts";

/** Write `Dockerfile` and `.dockerignore` into `dir`; refuses to replace existing files unless `overwrite`. */
export async function writeRenderedDockerfile(dir: string, rendered: RenderedDockerfile, options: { overwrite?: boolean } = {}): Promise<string[]> {
  const targets: Array<[string, string]> = [
    [join(dir, "Dockerfile"), rendered.dockerfile],
    [join(dir, ".dockerignore"), rendered.dockerignore],
  ];
  if (!options.overwrite) {
    for (const [path] of targets) {
      if (await exists(path)) throw new AotpackError(`${path} already exists`, { hint: "pass --force to overwrite it" });
    }
  }
  for (const [path, content] of targets) await writeFileAtomic(path, content);
  return targets.map(([path]) => path);
}

export async function readDockerfile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw fsError(err, "reading", path);
  }
}

/** Lint one file; the findings name it as given. .NET facts come from csproj files beside it unless given. */
export async function lintDockerfileFile(path: string, options: Partial<Omit<LintOptions, "file">> = {}): Promise<LintFinding[]> {
  const text = await readDockerfile(path);
  const facts = await factsFor(path, options);
  return lintDockerfile(text, { ...facts, file: path });
}

export interface FixFileResult extends FixResult {
  changed: boolean;
  /** Findings left after fixing (those --fix cannot rewrite). */
  remaining: LintFinding[];
}

/** `lint --fix` on one file: rewrite it atomically when anything changed. */
export async function fixDockerfileFile(path: string, options: Partial<Omit<LintOptions, "file">> = {}): Promise<FixFileResult> {
  const text = await readDockerfile(path);
  const facts = await factsFor(path, options);
  const result = fixDockerfile(text, { ...facts, file: path });
  const changed = result.text !== text;
  if (changed) await writeFileAtomic(path, result.text);
  return { ...result, changed, remaining: lintDockerfile(result.text, { ...facts, file: path }) };
}

export interface DotnetProjectFacts {
  /** Some csproj sets `<PublishAot>true</PublishAot>`; undefined otherwise (the Dockerfile is then judged on its own). */
  nativeAot?: boolean;
  invariantGlobalization?: boolean;
}

/** Read `PublishAot` / `InvariantGlobalization` = true from the *.csproj files in `dir` (not recursive). */
export async function readDotnetProjectFacts(dir: string): Promise<DotnetProjectFacts> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") return {};
    throw fsError(err, "reading", dir);
  }
  const projects = names.filter((n) => n.endsWith(".csproj")).sort();
  if (projects.length === 0) return {};
  // Only a "true" is a fact: a property may also come from Directory.Build.props or the command line.
  const facts: DotnetProjectFacts = {};
  for (const name of projects) {
    const xml = await readFile(join(dir, name), "utf8").catch((err: unknown) => {
      throw fsError(err, "reading", join(dir, name));
    });
    if (/<PublishAot>\s*true\s*<\/PublishAot>/i.test(xml)) facts.nativeAot = true;
    if (/<InvariantGlobalization>\s*true\s*<\/InvariantGlobalization>/i.test(xml)) facts.invariantGlobalization = true;
  }
  return facts;
}

async function factsFor(dockerfilePath: string, given: Partial<Omit<LintOptions, "file">>): Promise<Omit<LintOptions, "file">> {
  const dir = join(dockerfilePath, "..");
  const found = await readDotnetProjectFacts(dir);
  const out: Omit<LintOptions, "file"> = {};
  const nativeAot = given.nativeAot ?? found.nativeAot;
  const invariantGlobalization = given.invariantGlobalization ?? found.invariantGlobalization;
  if (nativeAot !== undefined) out.nativeAot = nativeAot;
  if (invariantGlobalization !== undefined) out.invariantGlobalization = invariantGlobalization;
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return false;
    throw fsError(err, "reading", path);
  }
}
