/** What a compiler hands the image builder: files with modes, an entrypoint, and ELF facts. */
import type { Platform } from "../oci/platform.ts";
import type { ElfInfo } from "../elf/types.ts";

export type RuntimeKind = "bun" | "node" | "dotnet-aot";
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
  /** What went into the executable, for the SBOM (src/sbom/). */
  inputs?: ArtifactInputs;
}

export interface ArtifactInputs {
  /** Files the bundler read (its metafile's inputs), relative to the project dir. */
  bundled?: string[];
  /** The runtime executable taken from npm, e.g. @oven/bun-linux-aarch64@1.4.5. */
  runtime?: { pkg: string; version: string; sha256: string; integrity?: string };
  /** .NET: the NuGet packages restore resolved (obj/project.assets.json). */
  nuget?: { name: string; version: string; sha512?: string }[];
}

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
}
