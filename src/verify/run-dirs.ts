/**
 * The per-run directory (bundle, rootfs, relay sockets) under the temp dir: marked with the
 * owning process (PID and start time), so the next run can tell a killed run's leftovers
 * from a live one's and remove them, runc's container state first.
 */
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

const PREFIX = "aotpack-run-";
const OWNER_FILE = "owner";

/** A process's start time (clock ticks since boot, field 22 of /proc/PID/stat): PIDs get reused, this pair does not. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

async function ownerAlive(dir: string): Promise<boolean> {
  const text = await readFile(join(dir, OWNER_FILE), "utf8").catch(() => undefined);
  if (text === undefined) return true; // not ours to judge (being created, or another tool's)
  const [pid, started] = text.trim().split(" ");
  return startTime(Number(pid)) === started;
}

/** Remove the run directories under `parent` whose owner is gone. */
export async function removeStaleRunDirs(parent: string, runc?: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = join(parent, name);
    if (await ownerAlive(dir)) continue;
    const id = await readFile(join(dir, "runc-id"), "utf8").catch(() => undefined);
    if (id && runc) await promisify(execFile)(runc, ["--root", join(dir, "runc"), "delete", "--force", id.trim()]).catch(() => {});
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

const liveDirs = new Set<string>();
let exitHook = false;

/** A new run directory, owned by this process; stale ones of killed runs are removed first. */
export async function createRunDir(parent: string, runc?: string): Promise<string> {
  await removeStaleRunDirs(parent, runc);
  const dir = await mkdtemp(join(parent, PREFIX));
  await writeFile(join(dir, OWNER_FILE), `${process.pid} ${startTime(process.pid) ?? ""}\n`);
  liveDirs.add(dir);
  if (!exitHook) {
    exitHook = true;
    // An uncaught error or process.exit() skips our finally blocks: remove what is left (sync, in "exit").
    process.on("exit", () => {
      for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  liveDirs.delete(dir);
}

/** Where root's sandboxed runs go when the temp dir is private: a directory made for it. */
const SHARED_RUN_PARENT = "/run/aotpack";

/**
 * The parent for a sandboxed run's directory. The sandbox's root is an unprivileged host id,
 * so it must be able to walk to the rootfs: when an ancestor of `wanted` is closed to others
 * (a 0700 TMPDIR, pam_tmpdir's /tmp/user/0), root's runs go to /run/aotpack (0711) instead.
 */
export async function reachableRunParent(wanted: string): Promise<string> {
  if (process.getuid?.() !== 0) return wanted;
  for (let dir = resolve(wanted); ; dir = dirname(dir)) {
    const st = await stat(dir).catch(() => undefined);
    if (st && (st.mode & 0o001) === 0) {
      await mkdir(SHARED_RUN_PARENT, { recursive: true, mode: 0o711 });
      await chmod(SHARED_RUN_PARENT, 0o711);
      return SHARED_RUN_PARENT;
    }
    if (dir === dirname(dir)) return wanted;
  }
}
