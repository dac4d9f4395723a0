/**
 * docs/config.md, generated from the config schema (config.ts's KEYS/EXPECTED/CHECK_KEYS) plus
 * one description per key here. Record<keyof ProjectConfig, …> makes a new key without a
 * description a type error; the docs test makes a stale docs/config.md a test failure.
 * Regenerate: npm run docs:config
 */
import { CHECK_KEYS, EXPECTED, KEYS, type ProjectConfig } from "./config.ts";
import { BUILTIN_COMPILERS, DEFAULT_RUNTIME, type CompilerEntry } from "../compile/registry.ts";

// The runtimes' lines come from the compiler registry (the built-in ones: docs do not change with plugins).
const RUNTIMES: readonly CompilerEntry[] = BUILTIN_COMPILERS;
const runtimeText = `The compiler, one of: ${RUNTIMES.map((e) => `\`${e.kind}\`: ${e.summary}`).join("; ")}.`;
const runtimeDefault = [`"${DEFAULT_RUNTIME}"`, ...RUNTIMES.filter((e) => e.detects).map((e) => `(${e.detects}: "${e.kind}")`)].join(" ");

const DESCRIPTION: Record<keyof ProjectConfig, { text: string; flag?: string; default?: string }> = {
  entry: { text: "The file the server starts from, relative to the project.", flag: "--entry", default: "the first that exists of bin, main, module, exports, the file scripts.start runs, src/index.ts, index.ts, src/server.ts, server.ts, index.js, server.js" },
  platforms: { text: "Target platforms, each compiled on this machine (no emulation).", flag: "--platform", default: "none: a build must name them" },
  base: { text: "What the executable runs on. `deb:SUITE` is built from verified Debian packages, down to the files the executable needs; `scratch` only suits statically linked executables.", flag: "--base", default: '"deb:bookworm"' },
  runtime: { text: runtimeText, flag: "--runtime", default: runtimeDefault },
  layout: { text: "One layer with one executable, or the runtime and the app in separate layers (a code change uploads a few KiB).", flag: "--layout", default: '"single-file"' },
  port: { text: "The exposed port, also set as `PORT` in the image's environment (and, for .NET, as `ASPNETCORE_HTTP_PORTS`, which ASP.NET reads instead).", flag: "--port", default: "8080" },
  env: { text: "Extra environment variables of the image. Flags (`-e K=V`) win over these.", flag: "-e, --env" },
  user: { text: "The user the app runs as: `uid:gid` (ids 0-2147483647, as Kubernetes takes them), `name` or `name:group` (looked up in the image's /etc/passwd). Root is refused unless `allowRoot` is true: uid 0, gid 0, `root`, and a bare uid (it runs with group 0 unless the base's /etc/passwd lists it). A base's own root user is not inherited: it becomes the default.", flag: "--user", default: '"65532:65532"' },
  allowRoot: { text: "Let `user` be root. The build summary (and `--json`'s `runsAsRoot`) then says the image runs as root.", flag: "--allow-root", default: "false" },
  files: { text: "Extra project files copied under /app (static assets, templates). Files that look like secrets (.env, *.pem, *.key, .npmrc, id_*) are skipped unless named exactly.", flag: "--file", default: "[]" },
  name: { text: "The image and executable name.", default: "package.json name without its scope, else the folder name" },
  compression: { text: "Layer compression. zstd needs Node >= 22.15.", flag: "--compression", default: '"gzip"' },
  verify: { text: "HTTP checks that `build --verify` and `aotpack verify` run against every platform's image (`verify` reads them from the current directory or `--project DIR`; `--http` replaces them).", flag: "--http, --expect-*", default: '[{ "path": "/" }] (GET / expecting 200)' },
  omit: { text: 'Run-time dependencies a `deb:` base leaves out although the compiler declares them: "openssl" (.NET loads libssl with dlopen when the crypto shim is linked in, which every ASP.NET app does), "icu", "tzdata", and "ca-certificates" (the CA bundle every base carries). A call that needs an omitted library fails at run time, so `--verify` the image. The build names what it leaves out.', flag: "--omit", default: "[]" },
};

const CHECK_DOCS: Record<string, string> = {
  method: 'HTTP method (default "GET").',
  path: 'Request path, starting with "/".',
  expectStatus: "Expected status (default 200).",
  expectContentType: "The content type must start with this.",
  expectJsonType: '"array" or "object": the body must parse as JSON of this kind.',
  expectBody: "The body must contain this text.",
  body: 'The request\'s body, for POST and PUT: a string as given, or a JSON value sent as JSON (`"body": { "title": "x" }`). Content-Type is application/json when the body parses as JSON, unless `headers` names one.',
  headers: 'Request headers, e.g. `{ "Authorization": "Bearer t" }`.',
};

export function renderConfigDocs(): string {
  const out: string[] = [
    "# Configuration reference",
    "",
    "<!-- Generated from src/builder/config.ts by `npm run docs:config`; a test fails when this file is stale. -->",
    "",
    'aotpack reads its configuration from the `"aotpack"` field of package.json or from `aotpack.config.json`',
    "in the project directory (not both). Command-line flags win over the file; the file wins over the defaults.",
    "Unknown keys are errors that name the key.",
    "",
    "```json",
    JSON.stringify({ name: "todo-api", aotpack: { platforms: ["linux/amd64", "linux/arm64"], files: ["public/**"], verify: [{ path: "/todos", expectJsonType: "array" }, { path: "/todos/9", expectStatus: 404 }] } }, null, 2),
    "```",
    "",
    "## Keys",
    "",
  ];
  for (const key of Object.keys(KEYS) as (keyof ProjectConfig)[]) {
    const d = DESCRIPTION[key];
    out.push(`### \`${key}\``, "", d.text, "", `- Value: ${EXPECTED[key]}`);
    if (d.default) out.push(`- Default: ${d.default}`);
    if (d.flag) out.push(`- Flag: \`${d.flag}\``);
    out.push("");
  }
  out.push("## `verify` checks", "", "Each check is an object with these keys:", "", "| key | meaning |", "| --- | --- |");
  for (const k of CHECK_KEYS) out.push(`| \`${k}\` | ${CHECK_DOCS[k] ?? ""} |`);
  out.push(
    "",
    "On the command line, `--http 'METHOD /path [STATUS] [array|object]'` gives a check; an `--expect-*`, `--http-body` or",
    "`--http-header 'Name: value'` flag after an `--http` refines that check only, and before the first `--http` it fills in",
    "every check: `--http 'POST /todos 201 object' --http-body '{\"title\":\"x\"}' --http-header 'Authorization: Bearer t'`.",
    "",
  );
  return out.join("\n");
}
