/**
 * Test support, one home per concept: import from here (or the file named) rather than writing
 * another copy. Real parts only; a missing one skips locally and fails in CI (skip.ts).
 *   skip.ts       the skip-locally / fail-in-CI rule (unavailable, skipOrFail, inCI)
 *   tools.ts      find and run tools (findTool, requireTool(s), missingTools, requireRoot, run, runOk, tempDir)
 *   ports.ts      freePort
 *   env.ts        withEnv, tempCache (a fresh AOTPACK_CACHE_DIR)
 *   platforms.ts  qemu-user and the arm64 cross sysroot (hasQemuArm64, QEMU_AARCH64, ARM64_SYSROOT)
 *   registry.ts   a real registry (startRegistry)   dockerd.ts  a real dockerd   trivy.ts  the scanner
 *   cli.ts        the CLI as a child process (runCli) or in this process (runMain)
 *   static-elf.ts tiny static executables
 */
export * from "./skip.ts";
export * from "./tools.ts";
export * from "./ports.ts";
export * from "./env.ts";
export * from "./platforms.ts";
export { REGISTRY_BIN, startRegistry, type RegistryAuth, type TestRegistry } from "./registry.ts";
export * from "./dockerd.ts";
export * from "./trivy.ts";
export * from "./cli.ts";
export * from "./static-elf.ts";
