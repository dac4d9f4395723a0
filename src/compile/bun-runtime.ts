/**
 * The Bun runtime each target needs for `bun build --compile --compile-executable-path`,
 * taken from the `@oven/bun-linux-*` npm package of the same version as the Bun in
 * use. Bun's own downloader goes to a host we may not reach, so we never let it run.
 */
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { AotpackError, UsageError } from "../errors.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import { ensureNpmRuntime, type FetchOptions, type NpmRuntimeSpec } from "./npm-runtime.ts";

export interface BunTargetOptions {
  /** amd64 only: the build for CPUs without AVX2. Ignored for arm64, which has one build. */
  baseline?: boolean;
  libc?: "glibc" | "musl";
}

export interface BunTarget {
  /** Value for `bun build --target`, e.g. "bun-linux-arm64-musl". */
  bunTarget: string;
  /** npm package holding that runtime, e.g. "@oven/bun-linux-aarch64-musl". */
  pkg: string;
}

export const BUN_PLATFORMS: readonly Platform[] = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64" },
];

/** Map a platform (+ baseline/musl) to Bun's target name and runtime package. */
export function bunTargetFor(platform: Platform, options: BunTargetOptions = {}): BunTarget {
  const musl = options.libc === "musl";
  if (platform.os === "linux" && platform.architecture === "amd64") {
    const suffix = `${musl ? "-musl" : ""}${options.baseline ? "-baseline" : ""}`;
    return { bunTarget: `bun-linux-x64${suffix}`, pkg: `@oven/bun-linux-x64${suffix}` };
  }
  if (platform.os === "linux" && platform.architecture === "arm64" && platform.variant === undefined) {
    const suffix = musl ? "-musl" : "";
    return { bunTarget: `bun-linux-arm64${suffix}`, pkg: `@oven/bun-linux-aarch64${suffix}` };
  }
  throw new UsageError(
    `unsupported platform ${formatPlatform(platform)} for the bun runtime; supported: ${BUN_PLATFORMS.map(formatPlatform).join(", ")}`,
  );
}

const require = createRequire(import.meta.url);

/** The Bun that aotpack depends on: its version and the host executable. */
export function installedBun(): { version: string; executable: string } {
  let pkgJson: string;
  try {
    pkgJson = require.resolve("bun/package.json");
  } catch (err) {
    throw new AotpackError("the bun package is not installed next to aotpack", {
      hint: "reinstall aotpack with npm install (bun is one of its dependencies)",
      cause: err,
    });
  }
  const { version } = JSON.parse(readFileSync(pkgJson, "utf8")) as { version: string };
  // The package's postinstall puts the native host binary at bin/bun.exe (also on Linux).
  // Without it (npm --ignore-scripts) bun.exe is a small placeholder; the platform
  // package npm installed as an optional dependency still holds the real binary.
  const placed = join(dirname(pkgJson), "bin", "bun.exe");
  if (isBigFile(placed)) return { version, executable: placed };
  const hostPkg = `@oven/bun-linux-${process.arch === "arm64" ? "aarch64" : "x64"}`;
  try {
    const fromPlatformPkg = join(dirname(createRequire(pkgJson).resolve(`${hostPkg}/package.json`)), "bin", "bun");
    if (isBigFile(fromPlatformPkg)) return { version, executable: fromPlatformPkg };
  } catch {
    // not installed either: fall through to the error
  }
  throw new AotpackError(`the bun package (${version}) has no native executable for this host`, {
    hint: "run npm rebuild bun (its install script was probably skipped)",
  });
}

function isBigFile(path: string): boolean {
  const st = statSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.isFile() && st.size > 1_000_000;
}

export function bunRuntimeSpec(platform: Platform, options: BunTargetOptions = {}, version = installedBun().version): NpmRuntimeSpec {
  return { pkg: bunTargetFor(platform, options).pkg, version, fileInPackage: "bin/bun", name: "bun" };
}

/** Path to the verified, cached Bun runtime for `platform`, fetched through npm when needed. */
export function ensureBunRuntime(platform: Platform, options: BunTargetOptions & FetchOptions = {}): Promise<string> {
  return ensureNpmRuntime(bunRuntimeSpec(platform, options), options);
}
