/**
 * Finding and running real external tools in tests (skopeo, umoci, docker, qemu …).
 * A missing tool skips the test with a reason locally, and fails it when CI=true (skip.ts).
 */
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, type TestContext } from "node:test";
import { inCI, unavailable } from "./skip.ts";

export { inCI };

const EXTRA_DIRS = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/** Absolute path of `name` on PATH (plus sbin dirs), or undefined. Absolute names are checked as they are. */
export function findTool(name: string): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : [...(process.env.PATH ?? "").split(delimiter), ...EXTRA_DIRS].filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * The tool's path, or: in CI, a thrown error (the test fails); elsewhere, the test is
 * skipped with the reason and undefined is returned (the caller returns early).
 */
export function requireTool(t: TestContext, name: string, install = `apt-get install ${name}`): string | undefined {
  const found = findTool(name);
  if (found) return found;
  unavailable(t, `${name} not found (install: ${install})`);
  return undefined;
}

/** Why a file a test needs (a library, a keyring) is not here, or undefined; `install` names its package. */
export function missingFile(path: string, install: string): string | undefined {
  return existsSync(path) ? undefined : `${path} missing (install ${install})`;
}

/** The file is there, or the test is skipped (failed in CI). */
export function requireFile(t: Pick<TestContext, "skip">, path: string, install: string): boolean {
  const reason = missingFile(path, install);
  if (reason === undefined) return true;
  unavailable(t, reason);
  return false;
}

/** Why tools (names on PATH) or files (absolute paths: a keyring, a library) are not here, or undefined when all are. */
export function missingTools(tools: string[]): string | undefined {
  const missing = tools.filter((t) => (t.startsWith("/") ? !existsSync(t) : findTool(t) === undefined));
  return missing.length ? `missing: ${missing.join(", ")}` : undefined;
}

/** Skip (outside CI) or fail (CI=true) when tools are missing. Returns true when the test may go on. */
export function requireTools(t: TestContext, tools: string[]): boolean {
  const reason = missingTools(tools);
  if (reason === undefined) return true;
  unavailable(t, reason);
  return false;
}

/** Skip (or fail in CI) unless running as root, for tests that mount or start daemons. */
export function requireRoot(t: TestContext, why: string): boolean {
  if (process.getuid?.() === 0) return true;
  unavailable(t, `needs root: ${why}`);
  return false;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string | Buffer;
}

/** Run a command to completion, bounded by a timeout (the process is killed by PID on expiry). */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) process.kill(child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
      if (timedOut) reject(new Error(`${cmd} ${args.join(" ")} timed out after ${timeoutMs} ms\n${result.stderr}`));
      else resolve(result);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like run, but rejects with the command's stderr when it exits non-zero. */
export async function runOk(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code ?? r.signal}:\n${r.stderr || r.stdout}`);
  }
  return r;
}

/**
 * A tmpfs of `size` (e.g. "2m") mounted for the test, to simulate a full disk; unmounted and
 * removed after it. Undefined (the test skipped, failed in CI) without root or mount.
 */
export async function smallTmpfs(t: TestContext, size: string): Promise<string | undefined> {
  if (!requireRoot(t, "mounts a small tmpfs to simulate a full disk")) return undefined;
  const dir = await mkdtemp(join(tmpdir(), "aotpack-full-"));
  const mnt = join(dir, "mnt");
  await mkdir(mnt);
  const r = await run("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mnt], { timeoutMs: 10_000 });
  // One hook, in order: unmount first, then remove the mount point.
  t.after(async () => {
    if (r.code === 0) await runOk("umount", [mnt], { timeoutMs: 10_000 });
    await rm(dir, { recursive: true, force: true });
  });
  if (r.code === 0) return mnt;
  unavailable(t, `cannot mount tmpfs here: ${r.stderr.trim()}`);
  return undefined;
}

/** A fresh temp directory removed after the test (t.after), whatever the outcome. */
export async function tempDir(t: TestContext | { after(fn: () => Promise<void> | void): void }, prefix = "aotpack-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A temp dir for the tests of the enclosing describe(): made before its first test, removed after its
 * last. Call it at describe level; the getter gives the path inside the tests.
 */
export function suiteTempDir(prefix = "aotpack-test-"): () => string {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
