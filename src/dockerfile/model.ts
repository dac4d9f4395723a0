/**
 * A small model over dockerfile-ast's parse: stages, their parent stages, global ARG defaults,
 * and the text/offset helpers the lint rules and --fix share.
 */
import { DockerfileParser, From, Run, type Dockerfile, type Instruction } from "dockerfile-ast";

export interface Stage {
  index: number;
  from: From;
  /** `AS name`, lower-cased (stage names are case-insensitive), or null. */
  name: string | null;
  /** The image as written, e.g. `${FINAL_BASE_IMAGE:-mcr.microsoft.com/dotnet/runtime-deps:10.0}`. */
  imageRaw: string;
  /** The image after substituting global ARG defaults (what a plain `docker build` uses). */
  image: string;
  /** The earlier stage this one is built FROM, if any. */
  parent: Stage | null;
  /** `--platform=` value as written, or null. */
  platform: string | null;
  /** Instructions after FROM, up to the next FROM. */
  body: Instruction[];
}

export interface DockerfileModel {
  text: string;
  df: Dockerfile;
  stages: Stage[];
  globalArgs: Map<string, string | null>;
  escape: string;
  newline: string;
  lineStarts: number[];
}

export const PLATFORM_ARGS = [
  "TARGETPLATFORM",
  "TARGETOS",
  "TARGETARCH",
  "TARGETVARIANT",
  "BUILDPLATFORM",
  "BUILDOS",
  "BUILDARCH",
  "BUILDVARIANT",
] as const;

export function parseModel(text: string): DockerfileModel {
  const df = DockerfileParser.parse(text);
  const globalArgs = new Map<string, string | null>();
  for (const arg of df.getInitialARGs()) {
    const prop = arg.getProperty();
    if (prop) globalArgs.set(prop.getName(), prop.getValue());
  }
  const stages: Stage[] = [];
  let current: Stage | null = null;
  for (const inst of df.getInstructions()) {
    if (inst instanceof From) {
      const imageRaw = inst.getImage() ?? "";
      const image = expandGlobal(imageRaw, globalArgs);
      const parent = stages.find((s) => s.name !== null && s.name === image.toLowerCase()) ?? null;
      current = {
        index: stages.length,
        from: inst,
        name: inst.getBuildStage()?.toLowerCase() ?? null,
        imageRaw,
        image,
        parent,
        platform: inst.getPlatformFlag()?.getValue() ?? null,
        body: [],
      };
      stages.push(current);
    } else if (current) {
      current.body.push(inst);
    }
  }
  const newline = text.includes("\r\n") ? "\r\n" : "\n";
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1);
  return { text, df, stages, globalArgs, escape: df.getEscapeCharacter(), newline, lineStarts };
}

/**
 * Expand `$V`, `${V}`, `${V:-default}` and `${V:+alt}` with the global ARG defaults, as the builder
 * does for FROM when no --build-arg is given. Unknown variables expand to "".
 */
export function expandGlobal(value: string, args: Map<string, string | null>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, op: string | undefined, word: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const raw = args.get(name);
    const val = raw === undefined || raw === null ? "" : expandGlobal(raw, args);
    if (op === "-") return val !== "" ? val : expandGlobal(word ?? "", args);
    if (op === "+") return val !== "" ? expandGlobal(word ?? "", args) : "";
    return val;
  });
}

/** Root-most stage of the FROM-stage chain (the one whose FROM names a real image). */
export function rootOf(stage: Stage): Stage {
  let s = stage;
  while (s.parent) s = s.parent;
  return s;
}

/** The stage and its ancestors, root first: everything that ends up in its filesystem. */
export function chainOf(stage: Stage): Stage[] {
  const out: Stage[] = [];
  for (let s: Stage | null = stage; s; s = s.parent) out.unshift(s);
  return out;
}

export function finalStage(model: DockerfileModel): Stage | undefined {
  return model.stages[model.stages.length - 1];
}

export function stageLabel(stage: Stage): string {
  return stage.name ? `stage "${stage.name}"` : `stage ${stage.index}`;
}

export function isBuildPlatform(platform: string | null): boolean {
  return platform !== null && /^\$\{?BUILDPLATFORM\}?$/.test(platform.trim());
}

/** 1-based line of an instruction's first line. */
export function lineOf(inst: Instruction): number {
  return inst.getRange().start.line + 1;
}

export function offsetOf(model: DockerfileModel, pos: { line: number; character: number }): number {
  return (model.lineStarts[pos.line] ?? model.text.length) + pos.character;
}

/** The instruction's source text, continuation lines and all. */
export function rawText(model: DockerfileModel, inst: Instruction): string {
  const r = inst.getRange();
  return model.text.slice(offsetOf(model, r.start), offsetOf(model, r.end));
}

/** Shell text of a RUN with line continuations joined; null for exec-form (JSON) RUN. */
export function runScript(inst: Instruction): string | null {
  if (!(inst instanceof Run)) return null;
  const content = inst.getArgumentsContent() ?? "";
  if (content.trimStart().startsWith("[")) return null;
  return content;
}

export function runsOf(stage: Stage): Run[] {
  return stage.body.filter((i): i is Run => i instanceof Run);
}

/** Split a shell script into simple commands at `&&`, `||`, `;`, `|` and `then`/`do` keywords. */
export function shellCommands(script: string): string[] {
  return script
    .split(/&&|\|\||;|\||\bthen\b|\bdo\b|\belse\b/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Whitespace-separated words, with surrounding quotes stripped. */
export function words(command: string): string[] {
  return (command.match(/"[^"]*"|'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^(["'])(.*)\1$/, "$2"));
}
