/**
 * A private Docker engine for tests: Debian's dockerd with its own data root, exec
 * root, pidfile and unix socket under a temp dir, no iptables and no bridge, so it
 * neither touches the host's docker nor other tests' engines. Stopped by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { findTool, run, runOk, type RunOptions, type RunResult } from "./tools.ts";

export interface Dockerd {
  /** DOCKER_HOST value, unix:///…/docker.sock */
  host: string;
  /** Run the docker CLI (/usr/bin/docker) against this engine. */
  docker(args: string[], options?: RunOptions): Promise<RunResult>;
  dockerOk(args: string[], options?: RunOptions): Promise<RunResult>;
  /** The engine's log so far (for failure messages). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Debian's CLI: /usr/local/bin/docker on this machine is a different client. */
export function dockerCli(): string | undefined {
  return findTool("/usr/bin/docker") ?? findTool("docker");
}

export async function startDockerd(options: { timeoutMs?: number } = {}): Promise<Dockerd> {
  const dockerdPath = findTool("dockerd");
  const cli = dockerCli();
  if (!dockerdPath || !cli) throw new Error("dockerd or /usr/bin/docker not found (install: apt-get install docker.io)");
  const timeoutMs = options.timeoutMs ?? 60_000;
  // Short path: unix socket paths are limited to 108 bytes.
  const root = await mkdtemp("/tmp/dkd-");
  const socket = join(root, "docker.sock");
  const host = `unix://${socket}`;
  const logFile = join(root, "dockerd.log");
  const logFd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(
      dockerdPath,
      [
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--bridge=none",
        "--data-root", join(root, "data"),
        "--exec-root", join(root, "exec"),
        "--pidfile", join(root, "dockerd.pid"),
        "-H", host,
      ],
      { stdio: ["ignore", logFd, logFd], detached: true },
    );
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: "1" };
  const docker = (args: string[], o: RunOptions = {}): Promise<RunResult> => run(cli, args, { ...o, env: { ...env, ...(o.env ?? {}) } });
  const stop = async (): Promise<void> => {
    if (pid !== undefined && !exited) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 20_000);
      await gone;
      clearTimeout(timer);
    }
    // The managed containerd is dockerd's child and exits with it; its mounts live under root.
    // Containers leave more mounts under root (netns bind mounts in exec/netns, overlays in data):
    // unmount everything below root, deepest first, before removing it.
    const mountinfo = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
    const mounts = mountinfo
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => m.startsWith(`${root}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m], { timeoutMs: 10_000 }).catch(() => undefined);
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      await stop();
      throw new Error(`dockerd exited during startup:\n${log.slice(-2000)}`);
    }
    const r = await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 }).catch(() => undefined);
    if (r?.code === 0) break;
    if (Date.now() > deadline) {
      const log = await readFile(logFile, "utf8").catch(() => "");
      await stop();
      throw new Error(`dockerd did not answer within ${timeoutMs} ms:\n${log.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    host,
    docker,
    dockerOk: (args, o = {}) => runOk(cli, args, { ...o, env: { ...env, ...(o.env ?? {}) } }),
    log: () => readFile(logFile, "utf8"),
    stop,
  };
}
