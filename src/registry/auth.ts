/**
 * Credentials (Docker's config.json, credential helpers) and the WWW-Authenticate
 * challenge. Secrets live only in these objects and in request headers; messages
 * name the registry and the helper, never a username, password or token.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { AotpackError, errorMessage } from "../errors.ts";
import { DOCKER_HUB } from "./reference.ts";

export interface Credentials {
  username: string;
  password: string;
}

/** Where credentials are looked up; overridable for tests. */
export interface CredentialSource {
  env?: NodeJS.ProcessEnv;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), ".docker"), "config.json");
}

async function readDockerConfig(env: NodeJS.ProcessEnv): Promise<DockerConfig | undefined> {
  const path = dockerConfigPath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AotpackError(`cannot read Docker config ${path}: ${errorMessage(err)}`);
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch {
    throw new AotpackError(`Docker config ${path} is not valid JSON`);
  }
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `ghcr.io` → `ghcr.io`. */
function keyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
}

/** The names config.json may use for one registry. */
function aliases(registry: string): string[] {
  const r = registry.toLowerCase();
  return r === DOCKER_HUB ? [DOCKER_HUB, "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"] : [r];
}

/** What credential helpers are asked for: Docker Hub is stored under its legacy v1 URL. */
function helperServerUrl(registry: string): string {
  return registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
}

/**
 * Credentials for `registry` from `$DOCKER_CONFIG/config.json` (or ~/.docker/config.json):
 * `credHelpers[registry]`, then `auths[registry]`, then `credsStore`. Undefined = anonymous.
 */
export async function credentialsFor(registry: string, source: CredentialSource = {}): Promise<Credentials | undefined> {
  const env = source.env ?? process.env;
  const config = await readDockerConfig(env);
  if (!config) return undefined;
  const names = aliases(registry);
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (names.includes(keyHost(key))) return runCredentialHelper(helper, helperServerUrl(registry), env);
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!names.includes(keyHost(key))) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const i = decoded.indexOf(":");
      if (i <= 0) throw new AotpackError(`Docker config ${dockerConfigPath(env)}: the "auth" entry for ${registry} is not base64 of user:password`);
      return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
    // An entry with only an identity token, or an empty one left by a credsStore login.
  }
  if (config.credsStore) return runCredentialHelper(config.credsStore, helperServerUrl(registry), env);
  return undefined;
}

/** `docker-credential-<name> get`, server URL on stdin, `{"Username","Secret"}` on stdout. */
export async function runCredentialHelper(name: string, serverUrl: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new AotpackError(`invalid credential helper name "${name}" in Docker config`);
  const program = `docker-credential-${name}`;
  const { code, stdout, spawnError } = await new Promise<{ code: number | null; stdout: string; spawnError?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(program, ["get"], { env, stdio: ["pipe", "pipe", "pipe"] });
    // Our own timer: spawn's `timeout` option lingers when the program is missing.
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    timer.unref();
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.resume();
    child.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: "", spawnError: err });
    });
    child.on("close", (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: out });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(serverUrl);
  });
  if (spawnError?.code === "ENOENT") {
    throw new AotpackError(`credential helper ${program} is not on PATH`, {
      hint: `install it, or remove "${name}" from credsStore/credHelpers in ${dockerConfigPath(env)}`,
    });
  }
  if (spawnError) throw new AotpackError(`credential helper ${program} could not run: ${spawnError.code ?? "error"}`);
  // Helpers answer "credentials not found" on stdout with a non-zero exit: anonymous.
  if (code !== 0) {
    if (/credentials not found/i.test(stdout)) return undefined;
    throw new AotpackError(`credential helper ${program} failed (exit ${code}) for ${serverUrl}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new AotpackError(`credential helper ${program} printed something that is not JSON`);
  }
  if (typeof parsed.Username !== "string" || typeof parsed.Secret !== "string") {
    throw new AotpackError(`credential helper ${program} answered without Username/Secret`);
  }
  if (parsed.Username === "<token>") {
    throw new AotpackError(`credential helper ${program} returned an identity token for ${serverUrl}, which aotpack does not support yet`, {
      hint: "log in with a username and password or access token instead",
    });
  }
  return { username: parsed.Username, password: parsed.Secret };
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64")}`;
}

export interface Challenge {
  scheme: "basic" | "bearer" | string;
  params: Record<string, string>;
}

/**
 * Parse `WWW-Authenticate`, e.g. `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`.
 * Only the first challenge is used: registries send one.
 */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(.*)$/s.exec(value);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? "";
  re.lastIndex = 0;
  let pm: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (pm = re.exec(rest)) !== null) {
    params[pm[1]!.toLowerCase()] = pm[2] !== undefined ? pm[2].replace(/\\(.)/g, "$1") : (pm[3] ?? "");
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** `repository:name:pull,push` scopes, merged so one token covers them all. */
export function mergeScopes(...lists: Array<readonly string[] | undefined>): string[] {
  return [...scopeActions(lists)].map(([r, a]) => (a.size ? `${r}:${[...a].sort().join(",")}` : r)).sort();
}

/** The `resource:actions` pairs of scopes (space-separated lists allowed), actions split. */
function scopeActions(lists: Array<readonly string[] | undefined>): Map<string, Set<string>> {
  const byResource = new Map<string, Set<string>>();
  for (const list of lists) {
    for (const scope of list ?? []) {
      for (const s of scope.split(" ")) {
        if (!s) continue;
        const i = s.lastIndexOf(":");
        // A scope without actions is kept whole, as its own resource.
        const resource = i <= 0 ? s : s.slice(0, i);
        const actions = byResource.get(resource) ?? new Set<string>();
        if (i > 0) for (const a of s.slice(i + 1).split(",")) if (a) actions.add(a);
        byResource.set(resource, actions);
      }
    }
  }
  return byResource;
}

/**
 * What a challenge's `scope` asks beyond `needed` (`repository:*:*`, `registry:catalog:*`, another
 * repository, push on a pull), as sorted scopes. A token is only ever asked for `needed`: the
 * registry does not decide what our credentials may do.
 */
export function scopesBeyond(asked: string | undefined, needed: readonly string[]): string[] {
  const have = scopeActions([needed]);
  const out: string[] = [];
  for (const [resource, actions] of scopeActions([asked ? [asked] : []])) {
    const mine = have.get(resource);
    if (!mine) {
      out.push(actions.size ? `${resource}:${[...actions].sort().join(",")}` : resource);
      continue;
    }
    const extra = [...actions].filter((a) => !mine.has(a)).sort();
    if (extra.length) out.push(`${resource}:${extra.join(",")}`);
  }
  return out.sort();
}

/**
 * The token realm a registry named, if we may use it (docs/decisions.md, "Credentials under a
 * written policy"): an http(s) URL; never one carrying userinfo (it would be sent Basic
 * credentials that are not ours, or ours to a party that named itself); never plain http when the
 * registry is reached over https. Another host or port is allowed, as Docker and containerd do
 * (Docker Hub's realm is auth.docker.io): the registry names its token service.
 */
export function tokenRealm(realm: string, registry: string, registryScheme: "http" | "https"): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new AotpackError(`${registry} named an invalid token realm`);
  }
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new AotpackError(`${registry} named a token realm that is not an http(s) URL (${url.protocol})`);
  if (url.username !== "" || url.password !== "") {
    throw new AotpackError(`${registry} named a token realm with a user name or password in it (${shown}); aotpack sends nothing there`, {
      hint: "a registry's token service never needs credentials in its URL: check that this is the registry you meant",
    });
  }
  if (registryScheme === "https" && url.protocol === "http:") {
    throw new AotpackError(`${registry} is reached over https but named a plain-http token realm (${shown}); aotpack sends no credentials or token requests over plain http`, {
      hint: "the registry's token service must be https",
    });
  }
  return url;
}
