/** `aotpack run` / `aotpack verify` as library functions; the CLI wires flags to these. */
export { unpackImage, applyLayer, applyLayerTar, DEFAULT_LIMITS, type UnpackOptions, type UnpackLimits } from "./unpack.ts";
export {
  runImage,
  startImage,
  closeRunsOnSignals,
  selectPlatformImage,
  listPlatforms,
  parsePortMapping,
  type RunOptions,
  type StartOptions,
  type RunningImage,
  type PortMapping,
  type Isolation,
  type ExitStatus,
} from "./run.ts";
export {
  verifyImage,
  formatVerifyReport,
  describeCheck,
  parseHttpCheck,
  judge,
  type VerifyOptions,
  type VerifyReport,
  type PlatformReport,
  type HttpCheck,
  type CheckResult,
} from "./verify.ts";
export { diagnoseEntrypoint, findEntrypoint, librarySearchDirs, type EntrypointFacts } from "./diagnose.ts";
export { setupBinfmt, readBinfmtEntry, binfmtFixBinaryReady, type SetupBinfmtResult } from "./binfmt.ts";
export { emulationFor, namespacesAvailable, userNamespacesAvailable, type Emulation, type EmulationOptions } from "./host.ts";
export { resolveInRoot, cleanImagePath } from "./rootfs-path.ts";
