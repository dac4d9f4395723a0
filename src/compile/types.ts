/** What a compiler hands the image builder: files with modes, an entrypoint, and ELF facts. */
import type { Platform } from "../oci/platform.ts";
import type { ElfInfo } from "../elf/types.ts";

/** A registered compiler's kind (src/compile/registry.ts): "bun", "node", "dotnet-aot", or one a plugin added. */
export type RuntimeKind = string;
export type ArtifactLayout = "single-file" | "layered";

export interface ArtifactFile {
  /** Absolute path inside the image, e.g. `/app/server`. */
  path: string;
  /** Path of the bytes on the host. */
  source: string;
  /** Unix permission bits, e.g. 0o755. */
  mode: number;
}

/** Files that go into one image layer. Single-file mode has one; layered mode has runtime + app. */
export interface ArtifactLayer {
  /** Short name for reports and history, e.g. "runtime", "app". */
  name: string;
  files: ArtifactFile[];
}

export interface Artifact {
  platform: Platform;
  runtime: RuntimeKind;
  layout: ArtifactLayout;
  layers: ArtifactLayer[];
  /** Exec-form entrypoint, e.g. ["/app/server"] or ["/app/bun", "/app/app.js"]. */
  entrypoint: string[];
  /** Facts read from the main executable (the one entrypoint[0] names). */
  elf: ElfInfo;
  /** Wall time of the compile, for reports. */
  compileMs: number;
  /**
   * What the executable loads at run time that its ELF NEEDED list does not name (dlopen,
   * data files). The deb: base adds them from the suite's packages; other bases ignore them.
   */
  runtimeLibraries?: RuntimeLibrary[];
  /**
   * NEEDED entries of the other ELF files the artifact ships (native libraries beside the executable, such as
   * a NuGet package's libe_sqlite3.so), less those it ships itself. The deb: base adds them by the same rule
   * as the executable's NEEDED.
   */
  libraryNeeds?: string[];
  /**
   * Environment variables the runtime reads for its port besides PORT (ASP.NET: ASPNETCORE_HTTP_PORTS):
   * the image sets each to the port, as it sets PORT.
   */
  portEnv?: string[];
  /** Debug symbols split from the executable (NativeAOT's `.dbg`), host paths; never shipped in the image. */
  symbols?: string[];
  /** What went into the executable, for the SBOM (src/sbom/). */
  inputs?: ArtifactInputs;
  /**
   * Every file the compiler read (its bundler's metafile), absolute host paths, wherever they live:
   * the compile cache keys the artifact by their contents (src/builder/compile-key.ts). Undefined for a
   * compiler that keeps no such record (.NET): the project's files and compileInputs are then the whole key.
   */
  readFiles?: string[];
}

export interface ArtifactInputs {
  /** Files the bundler read (its metafile's inputs), relative to the project dir (`../lib/x.ts` outside it). */
  bundled?: string[];
  /**
   * Source files from outside the project that went in (a monorepo's shared code; not npm packages),
   * named relative to the repository or workspace root, with the sha256 the compile key hashed.
   */
  outsideProject?: { path: string; sha256: string; sha1: string }[];
  /** The runtime executable taken from npm, e.g. @oven/bun-linux-aarch64@1.4.5. */
  runtime?: { pkg: string; version: string; sha256: string; integrity?: string };
  /** .NET: the NuGet packages restore resolved (obj/project.assets.json). */
  nuget?: { name: string; version: string; sha512?: string }[];
}

/**
 * One run-time need, by `id` (what a project's `"omit"` names) and purpose (for reports and errors):
 *  - `soname`: a library opened with dlopen, resolved like a NEEDED entry (libssl.so.3 → libssl3 / libssl3t64);
 *  - `anyOf` + `sonamePrefixes`: the first of these packages the suite has (libicu76 on trixie, libicu72 on
 *    bookworm), and from it the libraries whose file names start with a prefix, with what they need;
 *  - `zoneinfo`: /usr/share/zoneinfo from tzdata, so `TZ` works.
 */
export type RuntimeLibrary =
  | { id: RuntimeLibraryId; purpose: string; soname: string }
  | { id: RuntimeLibraryId; purpose: string; anyOf: string[]; sonamePrefixes: string[] }
  | { id: RuntimeLibraryId; purpose: string; zoneinfo: true };

/**
 * What a base can carry for the executable beyond its NEEDED list, by the name a project's `"omit"`
 * uses (after npm's `--omit`). `ca-certificates` is the base's CA bundle, which every base carries
 * unless omitted.
 */
export const RUNTIME_LIBRARY_IDS = ["openssl", "icu", "tzdata", "ca-certificates"] as const;
export type RuntimeLibraryId = (typeof RUNTIME_LIBRARY_IDS)[number];

export interface CompileRequest {
  /** Project root (holds package.json). */
  projectDir: string;
  /** Entry file relative to projectDir; resolved from package.json when absent. */
  entry?: string;
  platform: Platform;
  layout: ArtifactLayout;
  /** Scratch directory owned by the caller; the artifact's files live under it. */
  outDir: string;
  /** Name of the executable inside the image (default: package name). */
  appName?: string;
  minify?: boolean;
  sourcemap?: boolean;
  bytecode?: boolean;
  /** amd64 only: Bun's baseline build for CPUs without AVX2. */
  baseline?: boolean;
  libc?: "glibc" | "musl";
  /** Progress messages for the CLI ("fetching runtime @oven/bun-linux-aarch64 …"). */
  onProgress?: (message: string) => void;
}

export interface Compiler {
  readonly runtime: RuntimeKind;
  /** Platforms this compiler can target, for error messages. */
  supportedPlatforms(): Platform[];
  compile(request: CompileRequest): Promise<Artifact>;
  /**
   * Checks, before any compile starts, that every platform can be compiled here (toolchains), and that
   * the project (when given) is one this compiler builds; throws one error naming what is missing for all of them.
   */
  preflight?(platforms: Platform[], projectDir?: string): Promise<void>;
  /** What besides the project's files decides the output, for the compile cache's fingerprint. */
  compileInputs?(projectDir: string): Promise<CompileInputs>;
  /**
   * The ELF facts of what `compile` will produce, where they are known before compiling: the prebuilt
   * runtime the app is appended to (Bun, Node SEA). The builder resolves the base from them first, so a
   * lock that lacks what this runtime needs is extended, or refused under --frozen-lock, before the compile.
   */
  executableElf?(platform: Platform, request: Pick<CompileRequest, "projectDir" | "baseline" | "libc" | "onProgress">): Promise<ElfInfo>;
}

export interface CompileInputs {
  /** Facts that change the output, e.g. `{ sdk: "10.0.401" }`. */
  facts: Record<string, string>;
  /** Whether npm/Bun lockfiles at or above the project are inputs (default true). */
  packageLockfiles?: boolean;
  /** Top-level project folders that are build outputs, not inputs (e.g. obj, bin). */
  ignoreDirs?: string[];
}
