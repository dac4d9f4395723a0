/**
 * Finding and running real external tools in tests (skopeo, umoci, docker, qemu …).
 * A missing tool skips the test with a reason locally, and fails it when CI=true.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import type { TestContext } from "node:test";

export const inCI = (): boolean => process.env.CI === "true";

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
  const reason = `${name} not found (install: ${install})`;
  if (inCI()) throw new Error(`${reason}; required in CI`);
  t.skip(reason);
  return undefined;
}

/** Skip (or fail in CI) unless running as root, for tests that mount or start daemons. */
export function requireRoot(t: TestContext, why: string): boolean {
  if (process.getuid?.() === 0) return true;
  if (inCI()) throw new Error(`needs root: ${why}`);
  t.skip(`needs root: ${why}`);
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

/** A fresh temp directory removed after the test (t.after), whatever the outcome. */
export async function tempDir(t: TestContext | { after(fn: () => Promise<void> | void): void }, prefix = "aotpack-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
