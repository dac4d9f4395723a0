/** Run compiles in a child process, by default inside a new, empty network namespace (`unshare -n`). */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Artifact, CompileRequest, RuntimeKind } from "../types.ts";

const SCRIPT = fileURLToPath(new URL("./offline-compile.ts", import.meta.url));

export interface OfflineResult {
  artifacts?: Artifact[];
  error?: string;
  exitCode?: number;
}

export function compileOffline(
  runtime: RuntimeKind,
  requests: Omit<CompileRequest, "onProgress">[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; unshare?: boolean } = {},
): Promise<OfflineResult> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const node = [process.execPath, "--import", "tsx", SCRIPT, JSON.stringify({ runtime, requests })];
  const [cmd, ...args] = (options.unshare ?? true ? ["unshare", "-n", ...node] : node) as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(stdout) as OfflineResult);
      } catch {
        reject(new Error(`offline compile gave no result (exit ${code ?? signal}): ${stderr.slice(-2000)}`));
      }
    });
  });
}

/** True when this process may create a network namespace (root, or user namespaces allowed). */
export async function canUnshareNet(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn("unshare", ["-n", "true"], { stdio: "ignore" });
    child.on("error", () => resolve(false));
    child.on("close", (code) => resolve(code === 0));
  });
}
