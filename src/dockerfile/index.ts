/** `aotpack dockerfile` and `aotpack lint`: render a Dockerfile from the build plan; lint and fix any Dockerfile. */
export { renderDockerfile, defaultBuilderImage, DEFAULT_RUNTIME_IMAGE, BUN_TARGET_BY_ARCH, DOCKERIGNORE_ENTRIES } from "./render.ts";
export type { DockerfilePlan, RenderedDockerfile } from "./render.ts";
export { lintDockerfile, formatFindings, LINT_RULES } from "./lint.ts";
export type { LintFinding, LintOptions, RuleId } from "./lint.ts";
export { fixDockerfile } from "./fix.ts";
export type { FixResult } from "./fix.ts";
export { writeRenderedDockerfile, readDockerfile, lintDockerfileFile, fixDockerfileFile, readDotnetProjectFacts } from "./files.ts";
export type { FixFileResult, DotnetProjectFacts } from "./files.ts";
