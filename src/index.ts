/**
 * aotpack's public API. The CLI (src/cli) is a thin layer over exactly these exports.
 *
 *   compile (Compiler) → build (Image per platform + ImageIndex) → publish (Publisher)
 *   sources (layout, archive, registry) → inspect / verify / run
 */
export { AotpackError, UsageError } from "./errors.ts";
export { cacheRoot, cacheDir } from "./cache.ts";

// The OCI model
export * from "./oci/digest.ts";
export * from "./oci/media-types.ts";
export * from "./oci/platform.ts";
export * from "./oci/types.ts";
export * from "./oci/interfaces.ts";
export { createLayer, createLayerFromDirectory, layerFromBlobFile, sourceDateEpoch, epochToIso, type LayerEntry, type LayerOptions } from "./oci/layer.ts";
export { emptyImage, appendLayers, withConfig, withManifestAnnotations, newIndex, platformOfImage } from "./oci/mutate.ts";
export { validate, type ValidateOptions } from "./oci/validate.ts";
export { readLayout, type OciLayout } from "./oci/layout-source.ts";
export { imageFromCore, indexFromCore, itemFromCore, BlobNotFoundError, LIMITS, type BlobStore, type ImageCore, type IndexCore } from "./oci/core.ts";
export { selectImage, imageEntries, type ImageEntry, type SelectOptions } from "./oci/select.ts";
export { readDockerArchive } from "./oci/docker-archive-source.ts";
export { TRANSPORTS, parseSpec, specSyntax, type Transport, type TransportSpec } from "./transports/index.ts";

// Sinks
export * from "./publish/index.ts";

// Registry (source and sink)
export {
  parseReference,
  RegistryClient,
  RegistryError,
  remoteImage,
  remoteIndex,
  remoteIndexOrImage,
  pull,
  registryPublisher,
  push,
  type Reference,
  type RegistryClientOptions,
  type RegistryPublisherOptions,
} from "./registry/index.ts";

// Compilers and ELF facts
export type * from "./compile/types.ts";
export type { ElfInfo } from "./elf/types.ts";
export { readElf, assertElfMatchesPlatform } from "./elf/read-elf.ts";
export { compilerFor, compileAll, bunCompiler, nodeSeaCompiler, resolveEntry } from "./compile/index.ts";
export { registerCompiler, compilerEntries, compilerEntry, detectRuntime, runtimeKinds, DEFAULT_RUNTIME, type CompilerEntry, type DockerfileRequest } from "./compile/registry.ts";
export { dotnetAotCompiler, isDotnetAotProject, readCsproj, checkDotnetToolchain } from "./compile/dotnet-aot.ts";

// Bases
export { parseBaseSpec, resolveBase, type BaseSpec, type BaseRequirements, type ResolvedBase, type BaseSummary } from "./base/index.ts";

// The builder and its outputs
export { build, resolveBuildOptions, resolveBuildPlan, type BuildOptions, type BuildPlan, type BuildDeps, type BuildResult, type BuildReporter, type PlatformBuild, type LayerReport } from "./builder/build.ts";
export { loadProject, checkProjectConfig, type ProjectConfig, type HttpCheckConfig } from "./builder/config.ts";
export { parseOutputSpec, checkOutputs, preflightOutputs, publishAll, type OutputSpec } from "./builder/outputs.ts";
export { openSource, type OpenedSource } from "./sources.ts";

// Run and verify without Docker
export { unpackImage, runImage, startImage, verifyImage, formatVerifyReport, setupBinfmt, type RunOptions, type StartOptions, type RunningImage, type VerifyOptions, type VerifyReport, type HttpCheck } from "./verify/index.ts";

// Dockerfiles
export { renderDockerfile, lintDockerfile, fixDockerfile, formatFindings, type DockerfilePlan, type LintFinding } from "./dockerfile/index.ts";

export { main } from "./cli/main.ts";
