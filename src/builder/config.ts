/**
 * Project configuration: the `aotpack` field of package.json or `aotpack.config.json`,
 * merged under the command-line flags. Unknown keys are errors that name the key, so a
 * typo never silently builds something else.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { UsageError, errorMessage } from "../errors.ts";
import { RUNTIME_LIBRARY_IDS, type ArtifactLayout, type RuntimeKind, type RuntimeLibraryId } from "../compile/types.ts";
import { isRuntimeKind, runtimeKinds } from "../compile/registry.ts";
import type { Compression } from "../oci/media-types.ts";
import type { HttpCheck } from "../verify/verify.ts";

export interface ProjectConfig {
  entry?: string;
  platforms?: string[];
  base?: string;
  runtime?: RuntimeKind;
  layout?: ArtifactLayout;
  port?: number;
  env?: Record<string, string>;
  user?: string;
  /** Let `user` be root (uid 0, gid 0, `root`); the build refuses it otherwise. */
  allowRoot?: boolean;
  /** Extra files as globs relative to the project, copied under /app. */
  files?: string[];
  name?: string;
  compression?: Compression;
  /** HTTP checks for `build --verify` and `verify` run in the project: [{ "path": "/todos", "expectJsonType": "array" }]. */
  verify?: HttpCheckConfig[];
  /** Run-time libraries the base leaves out although the compiler declares them (npm's `--omit`): ["openssl", "ca-certificates"]. */
  omit?: RuntimeLibraryId[];
}

/** The same shape verify takes; kept as one type so the config and the API cannot drift. */
export type HttpCheckConfig = HttpCheck;

export const CHECK_KEYS = new Set(["method", "path", "expectStatus", "expectContentType", "expectJsonType", "expectBody", "body", "headers"]);

/** A request header a check may send: a token name (RFC 9110) and a value on one line. */
export function isHeader(name: string, value: unknown): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) && typeof value === "string" && !/[\r\n\0]/.test(value);
}

function isCheck(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const c = v as Record<string, unknown>;
  return (
    Object.keys(c).every((k) => CHECK_KEYS.has(k)) &&
    typeof c.path === "string" &&
    c.path.startsWith("/") &&
    (c.method === undefined || typeof c.method === "string") &&
    (c.expectStatus === undefined || Number.isInteger(c.expectStatus)) &&
    (c.expectContentType === undefined || typeof c.expectContentType === "string") &&
    (c.expectJsonType === undefined || c.expectJsonType === "array" || c.expectJsonType === "object") &&
    (c.expectBody === undefined || typeof c.expectBody === "string") &&
    (c.body === undefined || typeof c.body === "string" || (typeof c.body === "object" && c.body !== null)) &&
    (c.headers === undefined ||
      (typeof c.headers === "object" && c.headers !== null && !Array.isArray(c.headers) &&
        Object.entries(c.headers).every(([k, v]) => isHeader(k, v))))
  );
}

export const KEYS: Record<keyof ProjectConfig, (v: unknown) => boolean> = {
  entry: (v) => typeof v === "string" && v.length > 0,
  platforms: (v) => Array.isArray(v) && v.every((p) => typeof p === "string"),
  base: (v) => typeof v === "string" && v.length > 0,
  runtime: isRuntimeKind,
  layout: (v) => v === "single-file" || v === "layered",
  port: (v) => Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536,
  env: (v) =>
    typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string"),
  user: (v) => typeof v === "string" && v.length > 0,
  allowRoot: (v) => typeof v === "boolean",
  files: (v) => Array.isArray(v) && v.every((p) => typeof p === "string"),
  name: (v) => typeof v === "string" && /^[a-z0-9][a-z0-9._-]*$/.test(v),
  compression: (v) => v === "gzip" || v === "zstd" || v === "none",
  verify: (v) => Array.isArray(v) && v.every(isCheck),
  omit: (v) => Array.isArray(v) && v.every((x) => (RUNTIME_LIBRARY_IDS as readonly unknown[]).includes(x)),
};

export const EXPECTED: Record<keyof ProjectConfig, string> = {
  entry: "a file path",
  platforms: 'a list like ["linux/amd64", "linux/arm64"]',
  base: 'a base such as "deb:bookworm", "scratch" or a registry reference',
  // A getter: the registry may have gained a runtime since this module loaded.
  get runtime() {
    return quotedChoices(runtimeKinds());
  },
  layout: '"single-file" or "layered"',
  port: "a port number 1-65535",
  env: "an object of string values",
  user: 'a user such as "65532:65532"',
  allowRoot: "true or false",
  files: "a list of globs",
  name: "a lowercase image name",
  compression: '"gzip", "zstd" or "none"',
  verify: 'a list of checks like [{ "path": "/todos", "expectStatus": 200, "expectJsonType": "array" }] or [{ "method": "POST", "path": "/todos", "body": { "title": "x" }, "headers": { "Authorization": "Bearer t" }, "expectStatus": 201 }]',
  omit: `a list of ${RUNTIME_LIBRARY_IDS.map((id) => `"${id}"`).join(", ")}`,
};

/** ["a", "b", "c"] → '"a", "b" or "c"'. */
export function quotedChoices(values: readonly string[]): string {
  const q = values.map((v) => `"${v}"`);
  return q.length > 1 ? `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}` : (q[0] ?? "");
}

export function checkProjectConfig(raw: unknown, source: string): ProjectConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new UsageError(`${source}: the aotpack config must be an object`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // Own keys only: `__proto__`, `constructor`, `toString` are inherited, not config keys.
    const check = Object.hasOwn(KEYS, key) ? KEYS[key as keyof ProjectConfig] : undefined;
    if (!check) {
      throw new UsageError(`${source}: unknown config key "${key}"`, {
        hint: `known keys: ${Object.keys(KEYS).join(", ")}`,
      });
    }
    if (!check(value)) {
      throw new UsageError(`${source}: config key "${key}" must be ${EXPECTED[key as keyof ProjectConfig]}`);
    }
    out[key] = value;
  }
  return out as ProjectConfig;
}

export interface LoadedProject {
  dir: string;
  /** package.json name, if any. */
  packageName?: string;
  packageVersion?: string;
  config: ProjectConfig;
  /** Where the config came from, for messages. */
  configSource?: string;
}

async function readJson(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`cannot read ${path}: ${errorMessage(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${errorMessage(err)}`);
  }
}

/** Read package.json and aotpack.config.json from a project directory. Having both configs is an error. */
export async function loadProject(dir: string): Promise<LoadedProject> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(`project directory ${dir} ${st ? "is not a directory" : "does not exist"}`, { hint: "pass the folder that holds package.json (default: the current directory)" });
  }
  const pkgPath = join(dir, "package.json");
  const pkg = (await readJson(pkgPath)) as Record<string, unknown> | undefined;
  const filePath = join(dir, "aotpack.config.json");
  const file = await readJson(filePath);
  if (pkg?.aotpack !== undefined && file !== undefined) {
    throw new UsageError(`both ${pkgPath} ("aotpack" field) and ${filePath} configure aotpack; keep one`);
  }
  let config: ProjectConfig = {};
  let configSource: string | undefined;
  if (file !== undefined) {
    config = checkProjectConfig(file, filePath);
    configSource = filePath;
  } else if (pkg?.aotpack !== undefined) {
    config = checkProjectConfig(pkg.aotpack, `${pkgPath} "aotpack"`);
    configSource = pkgPath;
  }
  const result: LoadedProject = { dir, config };
  if (typeof pkg?.name === "string") result.packageName = pkg.name;
  if (typeof pkg?.version === "string") result.packageVersion = pkg.version;
  if (configSource) result.configSource = configSource;
  return result;
}

// The one naming rule lives with the compilers (which name the executable); re-exported for the config's users.
export { appNameFor } from "../compile/common.ts";

/**
 * Files never copied by `files` globs unless named exactly: they usually hold secrets.
 * Dotfiles and dot-folders are denied too (see looksSecretPath), so `.envrc`, `.netrc`,
 * `.git-credentials`, `.aws/credentials` and `.docker/config.json` are covered twice.
 */
export const SECRET_PATTERNS = [
  /^\.env(\..*)?$/,
  /^\.envrc$/,
  /^\.npmrc$/,
  /^\.netrc$/,
  /^\.git-credentials$/,
  /\.pem$/,
  /\.p12$/,
  /\.pfx$/,
  /^id_[a-z0-9]+(\.pub)?$/i,
  /\.key$/,
  /^credentials/i,
];

export function looksSecret(basename: string): boolean {
  return SECRET_PATTERNS.some((re) => re.test(basename));
}

/** A relative `/`-path that looks secret: a secret-looking name, or any dotfile / dot-folder segment. */
export function looksSecretPath(rel: string): boolean {
  const segments = rel.split("/");
  return looksSecret(segments[segments.length - 1]!) || segments.some((s) => s.startsWith("."));
}
