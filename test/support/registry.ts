/**
 * A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
 * a free port, a temp storage dir; optional htpasswd Basic or token auth. Stopped by PID.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./ports.ts";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export type RegistryAuth =
  | { kind: "htpasswd"; users: Record<string, string> }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface TestRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, as used in references. */
  host: string;
  port: number;
  storageDir: string;
  stop(): Promise<void>;
}

// One home each (test/support/tools.ts, ports.ts); re-exported here for the importers of this file.
export { missingTools, requireTools } from "./tools.ts";
export { freePort };

function bcryptHtpasswd(users: Record<string, string>): string {
  // distribution 2.8 accepts bcrypt entries only.
  return Object.entries(users)
    .map(([u, p]) => execFileSync("htpasswd", ["-nbB", u, p], { encoding: "utf8" }).trim())
    .join("\n") + "\n";
}

function configYaml(storage: string, port: number, authBlock: string): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: aotpack-test-secret
${authBlock}`;
}

/** GET /v2/ until the registry answers (200 or 401), bounded. */
async function waitReady(port: number, child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr().slice(-2000)}`);
    const status = await new Promise<number>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/v2/", method: "GET", timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
      req.on("timeout", () => req.destroy());
      req.end();
    });
    if (status === 200 || status === 401) return;
    await sleep(50);
  }
  throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within ${timeoutMs} ms: ${stderr().slice(-2000)}`);
}

export async function startRegistry(options: { auth?: RegistryAuth } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-registry-"));
  const storage = join(dir, "storage");
  let authBlock = "";
  if (options.auth?.kind === "htpasswd") {
    const file = join(dir, "htpasswd");
    await writeFile(file, bcryptHtpasswd(options.auth.users));
    authBlock = `auth:\n  htpasswd:\n    realm: aotpack-test\n    path: ${file}\n`;
  } else if (options.auth?.kind === "token") {
    const a = options.auth;
    authBlock = `auth:\n  token:\n    realm: ${a.realm}\n    service: ${a.service}\n    issuer: ${a.issuer}\n    rootcertbundle: ${a.rootCertBundle}\n`;
  }
  // A port we probed may be taken by the time the registry binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = join(dir, "config.yml");
    await writeFile(config, configYaml(storage, port, authBlock));
    const child = spawn(REGISTRY_BIN, ["serve", config], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, OTEL_TRACES_EXPORTER: "none" } });
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-8000)));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        process.kill(child.pid, "SIGTERM");
        const timer = sleep(5000).then(() => {
          if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
        });
        await Promise.race([exited, timer]);
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitReady(port, child, 15_000, () => err);
    } catch (e) {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      if (attempt < 3 && /address already in use/i.test(err)) continue;
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, port, storageDir: storage, stop };
  }
}
