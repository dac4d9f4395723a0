/**
 * `aotpack lint`: check any Dockerfile (aotpack's own, .NET NativeAOT ones, …) for the multi-platform
 * and image-size pitfalls of "C# NativeAOT をDockerでビルドする" and its sequels. Parsing is dockerfile-ast's;
 * each rule may also carry text edits, which `fixDockerfile` applies.
 */
import { Add, Cmd, Copy, Entrypoint, User, type Instruction, type Run } from "dockerfile-ast";
import {
  chainOf,
  finalStage,
  isBuildPlatform,
  lineOf,
  offsetOf,
  parseModel,
  PLATFORM_ARGS,
  rawText,
  rootOf,
  runScript,
  runsOf,
  shellCommands,
  stageLabel,
  words,
  type DockerfileModel,
  type Stage,
} from "./model.ts";
import { isRootUser } from "./render.ts";

/** The rule ids, from RULES: adding a rule is one entry there. */
export type RuleId = (typeof RULES)[number]["id"];

export interface LintFinding {
  file: string;
  /** 1-based line of the instruction at fault. */
  line: number;
  rule: RuleId;
  severity: "error" | "warning";
  message: string;
  /** What to change; `lint --fix` applies it when `fixable`. */
  fix: string;
  fixable: boolean;
}

export interface LintOptions {
  file: string;
  /** The project publishes with NativeAOT (e.g. `<PublishAot>true</PublishAot>` in its csproj). Default: inferred from the Dockerfile. */
  nativeAot?: boolean;
  /** The project sets `<InvariantGlobalization>true</InvariantGlobalization>`: the smaller chiseled base will do. */
  invariantGlobalization?: boolean;
}

/**
 * Every rule, in the order findings on one line are reported: its id, the one-line summary that
 * `lint` prints, and the check that adds its findings (with the edits `--fix` applies) to ctx.out.
 */
const RULES = [
  { id: "AOT001", summary: "compile stage without --platform=$BUILDPLATFORM (emulated build)", check: ruleEmulatedCompile },
  { id: "AOT002", summary: "platform ARG used in a stage that does not declare it", check: rulePlatformArgs },
  { id: "AOT003", summary: "dotnet publish/build without -a/-r for the target", check: ruleDotnetTarget },
  { id: "AOT004", summary: "arm64 NativeAOT without a cross toolchain or with the host objcopy", check: ruleCrossToolchain },
  { id: "AOT005", summary: "final base image larger than a NativeAOT app needs", check: ruleFinalBase },
  { id: "AOT006", summary: "debug symbols (*.dbg) copied into the final image", check: ruleDebugSymbols },
  { id: "AOT007", summary: "final stage runs as root", check: ruleRootUser },
  { id: "AOT008", summary: "ENTRYPOINT/CMD in shell form", check: ruleShellForm },
  { id: "AOT009", summary: "apt-get install without --no-install-recommends or without clearing the lists", check: ruleApt },
] as const satisfies readonly { id: `AOT${string}`; summary: string; check: (ctx: Ctx) => void }[];

export const LINT_RULES: Readonly<Record<RuleId, string>> = Object.fromEntries(RULES.map((r) => [r.id, r.summary])) as Record<RuleId, string>;

/** A text edit on the original Dockerfile; `fixDockerfile` applies a rule's edits together. */
export interface TextEdit {
  offset: number;
  deleteCount: number;
  insert: string;
}

export interface AnalyzedFinding extends LintFinding {
  edits: TextEdit[];
}

export function lintDockerfile(text: string, options: LintOptions): LintFinding[] {
  return analyzeDockerfile(text, options).map(({ edits: _edits, ...finding }) => finding);
}

/** `file:line: RULE message (fix: …)`, one line per finding. */
export function formatFindings(findings: readonly LintFinding[]): string {
  return findings.map((f) => `${f.file}:${f.line}: ${f.rule} ${f.message} (fix: ${f.fix})`).join("\n");
}

export function analyzeDockerfile(text: string, options: LintOptions): AnalyzedFinding[] {
  const model = parseModel(text);
  const ctx: Ctx = { model, options, nativeAot: options.nativeAot ?? inferNativeAot(model), out: [] };
  if (model.stages.length === 0) return [];
  for (const rule of RULES) rule.check(ctx);
  return ctx.out.sort((a, b) => a.line - b.line || a.rule.localeCompare(b.rule));
}

interface Ctx {
  model: DockerfileModel;
  options: LintOptions;
  nativeAot: boolean;
  out: AnalyzedFinding[];
}

function report(ctx: Ctx, f: Omit<AnalyzedFinding, "file" | "fixable">): void {
  ctx.out.push({ file: ctx.options.file, ...f, fixable: f.edits.length > 0 });
}

// ---------------------------------------------------------------- shared facts

const CONT = String.raw`(?:\s|\\\r?\n|\x60\r?\n)+`; // whitespace, including line continuations

interface DotnetCommand {
  run: Run;
  stage: Stage;
  verb: "publish" | "build";
  args: string[];
  /** Index of this command among the RUN's `dotnet publish|build` commands (for locating it in the raw text). */
  ordinal: number;
}

function dotnetCommands(model: DockerfileModel): DotnetCommand[] {
  const out: DotnetCommand[] = [];
  for (const stage of model.stages) {
    for (const run of runsOf(stage)) {
      const script = runScript(run);
      if (script === null) continue;
      let ordinal = 0;
      for (const cmd of shellCommands(script)) {
        const w = words(cmd);
        const i = w.indexOf("dotnet");
        const verb = i >= 0 ? w[i + 1] : undefined;
        if (verb === "publish" || verb === "build") {
          out.push({ run, stage, verb, args: w.slice(i + 2), ordinal: ordinal++ });
        }
      }
    }
  }
  return out;
}

function msbuildProperty(args: string[], name: string): string | undefined {
  const re = new RegExp(`^[-/]p(?:roperty)?:${name}=(.*)$`, "i");
  for (const a of args) {
    const m = re.exec(a);
    if (m) return m[1];
  }
  return undefined;
}

/** The value given by -a/--arch/-r/--runtime or -p:RuntimeIdentifier, or undefined. */
function dotnetTarget(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (/^(-a|--arch|-r|--runtime)$/.test(a)) return args[i + 1] ?? "";
    const eq = /^(?:--arch|--runtime)[=:](.*)$/.exec(a);
    if (eq) return eq[1];
  }
  return msbuildProperty(args, "RuntimeIdentifiers?");
}

function dotnetOutput(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "-o" || a === "--output") return args[i + 1];
    const eq = /^--output[=:](.*)$/.exec(a);
    if (eq) return eq[1];
  }
  return undefined;
}

function chainScripts(stage: Stage): string {
  return chainOf(stage)
    .flatMap(runsOf)
    .map((r) => runScript(r) ?? "")
    .join("\n");
}

/** PublishAot=true on a command line, or a .NET SDK stage that installs clang (NativeAOT's linker prerequisite). */
function inferNativeAot(model: DockerfileModel): boolean {
  const cmds = dotnetCommands(model);
  const explicit = cmds.map((c) => msbuildProperty(c.args, "PublishAot")).filter((v) => v !== undefined);
  if (explicit.some((v) => /^true$/i.test(v as string))) return true;
  if (explicit.length > 0) return false;
  return cmds.some((c) => c.verb === "publish" && /\bapt(-get)?\s[^\n]*\binstall\b[^\n]*\bclang\b/.test(chainScripts(c.stage).replace(/\s+/g, " ")));
}

function instructionEnd(model: DockerfileModel, inst: Instruction): number {
  return offsetOf(model, inst.getRange().end);
}

function lineStartOffset(model: DockerfileModel, inst: Instruction): number {
  return model.lineStarts[inst.getRange().start.line] ?? 0;
}

/**
 * Append a `&& command` line to a shell-form RUN, continuing the line with the file's escape character.
 * Exec-form and heredoc RUNs have no shell line to extend: no edit (the finding stays for the user).
 */
function appendToRun(model: DockerfileModel, run: Run, command: string): TextEdit[] {
  const raw = rawText(model, run);
  if (runScript(run) === null || /<<-?\s*["']?[A-Za-z_]/.test(raw)) return [];
  return [{ offset: instructionEnd(model, run), deleteCount: 0, insert: ` ${model.escape}${model.newline}    && ${command}` }];
}

function insertBefore(model: DockerfileModel, inst: Instruction, lines: string[]): TextEdit {
  return { offset: lineStartOffset(model, inst), deleteCount: 0, insert: lines.map((l) => l + model.newline).join("") };
}

function insertAfter(model: DockerfileModel, inst: Instruction, lines: string[]): TextEdit {
  return { offset: instructionEnd(model, inst), deleteCount: 0, insert: lines.map((l) => model.newline + l).join("") };
}

function stageRuns(stage: Stage): string {
  return runsOf(stage)
    .map((r) => runScript(r) ?? "")
    .join("\n");
}

// ---------------------------------------------------------------- AOT001

const COMPILERS: Array<{ re: RegExp; autofix: boolean }> = [
  { re: /\bdotnet\s+(publish|build)\b/, autofix: true },
  { re: /\bbun\s+build\b[^\n]*--compile\b/, autofix: false },
  { re: /\bgo\s+(build|install)\b/, autofix: false },
  { re: /\bcargo\s+(build|install)\b/, autofix: false },
  { re: /\bdeno\s+compile\b/, autofix: false },
  { re: /\bnative-image\b/, autofix: false },
  { re: /\bzig\s+build\b/, autofix: false },
];

function ruleEmulatedCompile(ctx: Ctx): void {
  const seen = new Set<Stage>();
  for (const stage of ctx.model.stages) {
    const script = stageRuns(stage).replace(/\s+/g, " ");
    const compiler = COMPILERS.find((c) => c.re.test(script));
    const command = compiler ? compiler.re.exec(script)?.[0] : undefined;
    if (!compiler || !command) continue;
    const root = rootOf(stage);
    // A literal platform is deliberate; $TARGETPLATFORM is the emulated default spelled out.
    if ((root.platform !== null && !/TARGETPLATFORM/.test(root.platform)) || seen.has(root)) continue;
    seen.add(root);
    const from = root.from;
    // Safe to move to the build platform when the compile is already told the target (or, for dotnet, AOT003 will).
    const targetsTarget = chainOf(stage).some((s) => s.body.some((i) => /\$\{?TARGET(ARCH|PLATFORM|OS)\b/.test(rawText(ctx.model, i))));
    const autofix = compiler.autofix || targetsTarget;
    const edits: TextEdit[] = [];
    const valueRange = from.getPlatformFlag()?.getValueRange();
    if (autofix && valueRange) {
      const start = offsetOf(ctx.model, valueRange.start);
      edits.push({ offset: start, deleteCount: offsetOf(ctx.model, valueRange.end) - start, insert: "$BUILDPLATFORM" });
    } else if (autofix) {
      const kw = from.getInstructionRange();
      edits.push({ offset: offsetOf(ctx.model, kw.end), deleteCount: 0, insert: " --platform=$BUILDPLATFORM" });
    }
    report(ctx, {
      line: lineOf(from),
      rule: "AOT001",
      severity: "error",
      message: `${stageLabel(root)} compiles (${command}) on the target platform: a multi-platform build runs it under emulation, and without binfmt/qemu it fails with "exec format error"`,
      fix:
        compiler.autofix
          ? "FROM --platform=$BUILDPLATFORM … and cross-compile for $TARGETARCH (dotnet publish -a $TARGETARCH)"
          : autofix
            ? "FROM --platform=$BUILDPLATFORM … (the compile already targets $TARGETARCH)"
            : "FROM --platform=$BUILDPLATFORM … and pass the target to the compiler (GOARCH=$TARGETARCH, cargo --target, bun --target=bun-linux-…)",
      edits,
    });
  }
}

// ---------------------------------------------------------------- AOT002

function rulePlatformArgs(ctx: Ctx): void {
  // Names already reported in a stage: its child stages will inherit the ARG the fix adds there.
  const reportedIn = new Map<Stage, Set<string>>();
  for (const stage of ctx.model.stages) {
    const inherited = new Set<string>();
    for (const s of chainOf(stage).slice(0, -1)) {
      for (const n of declaredNames(s.body)) inherited.add(n);
      for (const n of reportedIn.get(s) ?? []) inherited.add(n);
    }
    const declared = new Set(inherited);
    const reported = new Set<string>();
    reportedIn.set(stage, reported);
    for (const inst of stage.body) {
      for (const v of inst.getVariables()) {
        const name = v.getName();
        if (!(PLATFORM_ARGS as readonly string[]).includes(name) || declared.has(name) || reported.has(name)) continue;
        reported.add(name);
        report(ctx, {
          line: v.getRange().start.line + 1,
          rule: "AOT002",
          severity: "error",
          message: `$${name} is used in ${stageLabel(stage)}, which does not declare it: it expands to an empty string`,
          fix: `add ARG ${name} at the top of the stage`,
          edits: [insertAfter(ctx.model, stage.from, [`ARG ${name}`])],
        });
      }
      for (const n of declaredNames([inst])) declared.add(n);
    }
  }
}

function declaredNames(instructions: Instruction[]): string[] {
  const out: string[] = [];
  for (const inst of instructions) {
    const kw = inst.getKeyword();
    if (kw === "ARG") {
      const first = (inst.getArgumentsContent() ?? "").trim().split(/[\s=]/)[0];
      if (first) out.push(first);
    } else if (kw === "ENV") {
      for (const m of (inst.getArgumentsContent() ?? "").matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)) out.push(m[1] as string);
      const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+[^=]*$/.exec((inst.getArgumentsContent() ?? "").trim());
      if (legacy) out.push(legacy[1] as string);
    }
  }
  return out;
}

// ---------------------------------------------------------------- AOT003

function ruleDotnetTarget(ctx: Ctx): void {
  for (const cmd of dotnetCommands(ctx.model)) {
    if (dotnetTarget(cmd.args) !== undefined) continue;
    const crossStage = isBuildPlatform(rootOf(cmd.stage).platform);
    if (!ctx.nativeAot && !crossStage) continue;
    const edit = insertDotnetArch(ctx.model, cmd);
    report(ctx, {
      line: lineOf(cmd.run),
      rule: "AOT003",
      severity: "error",
      message: `dotnet ${cmd.verb} has no -a/-r, so it builds for the build machine's architecture${ctx.nativeAot ? " (NativeAOT emits native code for exactly that one)" : ""}, not the image's`,
      fix: `dotnet ${cmd.verb} … -a $TARGETARCH`,
      edits: edit ? [edit] : [],
    });
  }
}

/** Insert ` -a $TARGETARCH` after `-c <config>` if present, else after the project argument. */
function insertDotnetArch(model: DockerfileModel, cmd: DotnetCommand): TextEdit | undefined {
  const raw = rawText(model, cmd.run);
  const base = offsetOf(model, cmd.run.getRange().start);
  const verbRe = new RegExp(`\\bdotnet${CONT}(?:publish|build)\\b`, "g");
  let m: RegExpExecArray | null = null;
  for (let i = 0; i <= cmd.ordinal; i++) {
    m = verbRe.exec(raw);
    if (!m) return undefined;
  }
  if (!m) return undefined;
  const start = m.index + m[0].length;
  const endRel = raw.slice(start).search(/&&|\|\||;|\|/);
  const segment = endRel < 0 ? raw.slice(start) : raw.slice(start, start + endRel);
  const config = new RegExp(`${CONT}(?:-c|--configuration)${CONT}\\S+`).exec(segment);
  if (config) return { offset: base + start + config.index + config[0].length, deleteCount: 0, insert: " -a $TARGETARCH" };
  const project = new RegExp(`^${CONT}(?!-)(?:"[^"]*"|'[^']*'|[^\\s\\\\]+)`).exec(segment);
  const at = start + (project ? project[0].length : 0);
  return { offset: base + at, deleteCount: 0, insert: " -a $TARGETARCH" };
}

// ---------------------------------------------------------------- AOT004

export const CROSS_PACKAGES = ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "binutils-aarch64-linux-gnu"] as const;

function ruleCrossToolchain(ctx: Ctx): void {
  if (!ctx.nativeAot) return;
  const seenStages = new Set<Stage>();
  for (const cmd of dotnetCommands(ctx.model)) {
    if (cmd.verb !== "publish" || seenStages.has(cmd.stage)) continue;
    const target = dotnetTarget(cmd.args) ?? "";
    const root = rootOf(cmd.stage);
    // Only a stage on the build platform that targets arm64 (or $TARGETARCH, which may be arm64) cross-links.
    if (!isBuildPlatform(root.platform) || !/TARGETARCH|arm64|aarch64/i.test(target)) continue;
    seenStages.add(cmd.stage);
    const scripts = chainScripts(cmd.stage);
    const crossbuild = /\bcrossbuild-essential-arm64\b/.test(scripts);
    const missing = CROSS_PACKAGES.filter((p) => !crossbuild && !new RegExp(`\\b${p}\\b`).test(scripts));
    // gcc-aarch64-linux-gnu depends on binutils-aarch64-linux-gnu, so naming gcc is enough for the linker side.
    const missingRequired = missing.filter((p) => p !== "binutils-aarch64-linux-gnu" || !/\bgcc-aarch64-linux-gnu\b/.test(scripts));
    if (missingRequired.length > 0) {
      report(ctx, {
        line: lineOf(cmd.run),
        rule: "AOT004",
        severity: "error",
        message: `NativeAOT for arm64 links with the arm64 toolchain and libc, but ${stageLabel(root)} installs no ${missingRequired.join(", ")} (clang alone is not enough)`,
        fix: `apt-get install -y --no-install-recommends ${CROSS_PACKAGES.join(" ")} when $TARGETARCH is arm64`,
        edits: toolchainEdits(ctx.model, cmd, root),
      });
    }
    const objcopyOk = /aarch64-linux-gnu-objcopy|llvm-objcopy/.test(scripts) || msbuildProperty(cmd.args, "ObjCopyName") !== undefined || /^false$/i.test(msbuildProperty(cmd.args, "StripSymbols") ?? "");
    if (!objcopyOk) {
      report(ctx, {
        line: lineOf(cmd.run),
        rule: "AOT004",
        severity: "error",
        message: "NativeAOT strips symbols with `objcopy`, and the host's x86-64 objcopy cannot read an arm64 binary",
        fix: 'RUN if [ "$TARGETARCH" = "arm64" ]; then ln -sf /usr/bin/aarch64-linux-gnu-objcopy /usr/local/bin/objcopy; fi before dotnet publish',
        edits: [
          insertBefore(ctx.model, cmd.run, [
            "# Setup objcopy for ARM64 cross-compilation",
            'RUN if [ "$TARGETARCH" = "arm64" ]; then ln -sf /usr/bin/aarch64-linux-gnu-objcopy /usr/local/bin/objcopy; fi',
          ]),
        ],
      });
    }
  }
}

function toolchainEdits(model: DockerfileModel, cmd: DotnetCommand, root: Stage): TextEdit[] {
  if (/alpine/i.test(root.image)) return []; // apt-get only: leave other package managers to the user
  const install = `if [ "$TARGETARCH" = "arm64" ]; then apt-get install -y --no-install-recommends ${CROSS_PACKAGES.join(" ")}; fi`;
  // Prefer the RUN that already installs packages (after its apt-get update, before it clears the lists).
  const aptRun = chainOf(cmd.stage)
    .flatMap(runsOf)
    .find((r) => /\bapt(-get)?\b[\s\S]*\binstall\b/.test(runScript(r) ?? "") && /\bapt(-get)?\s+update\b/.test(runScript(r) ?? ""));
  if (aptRun) {
    const raw = rawText(model, aptRun);
    const clear = new RegExp(`${CONT}&&${CONT}rm${CONT}-\\w+${CONT}/var/lib/apt/lists`).exec(raw);
    if (clear) {
      const at = offsetOf(model, aptRun.getRange().start) + clear.index;
      return [{ offset: at, deleteCount: 0, insert: ` ${model.escape}${model.newline}    && ${install}` }];
    }
    return appendToRun(model, aptRun, install);
  }
  return [
    insertBefore(model, cmd.run, [
      `RUN if [ "$TARGETARCH" = "arm64" ]; then apt-get update && apt-get install -y --no-install-recommends ${CROSS_PACKAGES.join(" ")} && rm -rf /var/lib/apt/lists/*; fi`,
    ]),
  ];
}

// ---------------------------------------------------------------- AOT005

function ruleFinalBase(ctx: Ctx): void {
  if (!ctx.nativeAot) return;
  const final = finalStage(ctx.model);
  if (!final) return;
  const root = rootOf(final);
  const m = /^(mcr\.microsoft\.com\/dotnet\/(?:nightly\/)?)(runtime-deps|aspnet|runtime|sdk):([^@\s]+)$/.exec(root.image);
  if (!m) return;
  const [, registry, repo, tag] = m as unknown as [string, string, string, string];
  if (repo === "runtime-deps" && /chiseled/.test(tag)) return;
  const suggestion = chiseledTag(tag, ctx.options.invariantGlobalization === true);
  const replacement = suggestion ? `${registry}runtime-deps:${suggestion}` : undefined;
  const edits: TextEdit[] = [];
  if (replacement) {
    const edit = replaceImageText(ctx.model, root, root.image, replacement);
    if (edit) edits.push(edit);
  }
  report(ctx, {
    line: lineOf(root.from),
    rule: "AOT005",
    severity: "warning",
    message: `the final image is based on ${repo}:${tag}, but a NativeAOT app needs no .NET runtime and no distro tools (the post measured runtime-deps:10.0 at 289MB, -noble-chiseled at 88.3MB)`,
    fix: replacement
      ? `FROM ${replacement}${ctx.options.invariantGlobalization ? "" : " (or -noble-chiseled with InvariantGlobalization, -noble-chiseled-aot for the smallest)"}`
      : "use mcr.microsoft.com/dotnet/runtime-deps:<version>-noble-chiseled",
    edits,
  });
}

/** `10.0` → `10.0-noble-chiseled-extra`; distros without a chiseled flavour give undefined. */
function chiseledTag(tag: string, invariantGlobalization: boolean): string | undefined {
  const m = /^(\d+)\.(\d+)(?:-(noble|jammy))?$/.exec(tag);
  if (!m) return undefined;
  const major = Number(m[1]);
  const distro = m[3] ?? (major >= 8 ? "noble" : "jammy");
  // ICU and tzdata live only in -extra; without InvariantGlobalization the app may need them.
  return `${m[1]}.${m[2]}-${distro}-chiseled${invariantGlobalization ? "" : "-extra"}`;
}

/** Replace the literal image text in the stage's FROM, or in the global ARG default it comes from. */
function replaceImageText(model: DockerfileModel, stage: Stage, image: string, replacement: string): TextEdit | undefined {
  const candidates: Instruction[] = [stage.from, ...model.df.getInitialARGs()];
  for (const inst of candidates) {
    const raw = rawText(model, inst);
    const at = raw.indexOf(image);
    if (at >= 0 && raw.indexOf(image, at + 1) < 0) {
      return { offset: offsetOf(model, inst.getRange().start) + at, deleteCount: image.length, insert: replacement };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- AOT006

function ruleDebugSymbols(ctx: Ctx): void {
  const final = finalStage(ctx.model);
  if (!final) return;
  for (const stage of chainOf(final)) {
    for (const inst of stage.body) {
      if (!(inst instanceof Copy) && !(inst instanceof Add)) continue;
      const sources = copySources(inst);
      if (sources.some((s) => /\.dbg$/.test(s))) {
        report(ctx, {
          line: lineOf(inst),
          rule: "AOT006",
          severity: "warning",
          message: "debug symbols (*.dbg) are copied into the final image",
          fix: "copy only the executable; keep *.dbg as a build artifact",
          edits: [],
        });
        continue;
      }
      const fromName = inst instanceof Copy ? inst.getFromFlag()?.getValue()?.toLowerCase() : undefined;
      if (!fromName || !ctx.nativeAot) continue;
      const source = ctx.model.stages.find((s) => s.name === fromName || String(s.index) === fromName);
      if (!source) continue;
      for (const cmd of dotnetCommands(ctx.model)) {
        if (cmd.verb !== "publish" || !chainOf(source).includes(cmd.stage)) continue;
        const out = dotnetOutput(cmd.args);
        if (!out) continue;
        const dir = normalizeDir(out);
        if (!sources.some((s) => normalizeDir(s) === dir)) continue;
        const scripts = chainScripts(source);
        const keepsNoDbg =
          new RegExp(`\\brm\\b[^\\n;&|]*\\.dbg`).test(scripts) ||
          /^false$/i.test(msbuildProperty(cmd.args, "StripSymbols") ?? "") ||
          /^none$/i.test(msbuildProperty(cmd.args, "DebugType") ?? "") ||
          /^false$/i.test(msbuildProperty(cmd.args, "DebugSymbols") ?? "");
        if (keepsNoDbg) continue;
        report(ctx, {
          line: lineOf(inst),
          rule: "AOT006",
          severity: "warning",
          message: `COPY of ${dir} brings NativeAOT's separate debug symbols (<app>.dbg, about twice the executable's size) into the final image`,
          fix: `delete them after publishing: dotnet publish … && rm -f ${dir}/*.dbg`,
          edits: appendToRun(ctx.model, cmd.run, `rm -f ${dir}/*.dbg`),
        });
        break;
      }
    }
  }
}

function copySources(inst: Copy | Add): string[] {
  const json = inst.getJSONStrings();
  const values = json.length > 0 ? json.map((j) => j.getJSONValue()) : inst.getArguments().map((a) => a.getValue());
  return values.slice(0, -1);
}

function normalizeDir(path: string): string {
  return path.replace(/^["']|["']$/g, "").replace(/(\/\.|\/\*|\/)+$/, "") || "/";
}

// ---------------------------------------------------------------- AOT007

function ruleRootUser(ctx: Ctx): void {
  const final = finalStage(ctx.model);
  if (!final) return;
  const chain = chainOf(final);
  const users = chain.flatMap((s) => s.body.filter((i): i is User => i instanceof User));
  const last = users[users.length - 1];
  const root = rootOf(final);
  if (last) {
    if (!isRootUser((last.getArgumentsContent() ?? "").trim())) return;
  } else if (/nonroot|chiseled/.test(root.image)) {
    return; // these bases already default to a non-root user
  }
  const uid = /^mcr\.microsoft\.com\/dotnet\//.test(root.image) ? "$APP_UID" : "65532:65532";
  // Before the final stage's ENTRYPOINT/CMD that follows the last USER, else at the stage's end.
  const lastUserLine = last ? last.getRange().start.line : -1;
  const anchor = final.body.find((i) => (i instanceof Entrypoint || i instanceof Cmd) && i.getRange().start.line > lastUserLine);
  const tail = final.body[final.body.length - 1] ?? final.from;
  const edit = anchor ? insertBefore(ctx.model, anchor, [`USER ${uid}`]) : insertAfter(ctx.model, tail, [`USER ${uid}`]);
  report(ctx, {
    line: last ? lineOf(last) : lineOf(final.from),
    rule: "AOT007",
    severity: "warning",
    message: last ? `the final image runs as ${(last.getArgumentsContent() ?? "").trim()}` : `the final image runs as root: ${stageLabel(final)} sets no USER and ${root.image || "its base"} defaults to root`,
    fix: `USER ${uid}`,
    edits: [edit],
  });
}

// ---------------------------------------------------------------- AOT008

function ruleShellForm(ctx: Ctx): void {
  for (const stage of ctx.model.stages) {
    for (const inst of stage.body) {
      if (!(inst instanceof Entrypoint) && !(inst instanceof Cmd)) continue;
      if (inst.getOpeningBracket() !== null && inst.getClosingBracket() !== null) continue;
      const args = (inst.getArgumentsContent() ?? "").trim();
      if (args === "") continue;
      const kw = inst.getKeyword();
      const simple = /^[A-Za-z0-9_.\/:=@+,-]+(\s+[A-Za-z0-9_.\/:=@+,-]+)*$/.test(args);
      const json = JSON.stringify(args.split(/\s+/));
      const edits: TextEdit[] = [];
      const range = inst.getArgumentsRange();
      if (simple && range) {
        const start = offsetOf(ctx.model, range.start);
        edits.push({ offset: start, deleteCount: offsetOf(ctx.model, range.end) - start, insert: json });
      }
      report(ctx, {
        line: lineOf(inst),
        rule: "AOT008",
        severity: "warning",
        message: `${kw} in shell form runs under /bin/sh -c: the app is not PID 1 and never receives SIGTERM, so stops wait for the kill timeout`,
        fix: simple ? `${kw} ${json}` : `${kw} ["executable", "arg", …] (exec form)`,
        edits,
      });
    }
  }
}

// ---------------------------------------------------------------- AOT009

function ruleApt(ctx: Ctx): void {
  const aptConfigNoRecommends = /APT::Install-Recommends\s*"?(false|0)/.test(ctx.model.text);
  for (const stage of ctx.model.stages) {
    for (const run of runsOf(stage)) {
      const script = runScript(run);
      if (script === null) continue;
      const installs = shellCommands(script).filter((c) => /\bapt(-get)?\s+(?:\S+\s+)*install\b/.test(c));
      if (installs.length === 0) continue;
      const noFlag = !aptConfigNoRecommends && installs.some((c) => !/--no-install-recommends\b/.test(c));
      const cacheMount = /--mount=[^\s]*target=\/var\/lib\/apt/.test(rawText(ctx.model, run));
      const noClean = !cacheMount && !/\brm\s+-\w*\s+[^\n;&|]*\/var\/lib\/apt\/lists/.test(script);
      if (!noFlag && !noClean) continue;
      const edits: TextEdit[] = [];
      const problems: string[] = [];
      const fixes: string[] = [];
      if (noFlag) {
        problems.push("without --no-install-recommends");
        fixes.push("apt-get install --no-install-recommends");
        const raw = rawText(ctx.model, run);
        const base = offsetOf(ctx.model, run.getRange().start);
        const re = new RegExp(`\\bapt(?:-get)?(?:${CONT}-\\S+)*${CONT}install\\b((?:(?!&&|\\|\\||;|\\|).)*)`, "gs");
        for (const m of raw.matchAll(re)) {
          if (/--no-install-recommends/.test(m[1] ?? "")) continue;
          const at = base + (m.index ?? 0) + m[0].length - (m[1] ?? "").length;
          edits.push({ offset: at, deleteCount: 0, insert: " --no-install-recommends" });
        }
      }
      if (noClean) {
        problems.push(`${noFlag ? "and " : ""}without clearing /var/lib/apt/lists in the same RUN`);
        fixes.push("&& rm -rf /var/lib/apt/lists/*");
        edits.push(...appendToRun(ctx.model, run, "rm -rf /var/lib/apt/lists/*"));
      }
      report(ctx, {
        line: lineOf(run),
        rule: "AOT009",
        severity: "warning",
        message: `apt-get install ${problems.join(" ")}: the layer keeps packages and package lists nobody uses`,
        fix: fixes.join(", "),
        edits,
      });
    }
  }
}
