/**
 * The sandbox launcher: an OCI bundle (bundle.ts) run by `runc run`, the runtime Docker and
 * containerd use. runc does the isolation (user namespace, pivot_root, namespaces, no caps,
 * no_new_privs, seccomp; a writable root unless asked); this module only prepares the bundle and holds the
 * app back until the port relays are up: a createRuntime hook (a host shell, once the
 * namespaces exist) writes runc's state (with the app's PID) and waits for a "go" file.
 */
import { spawn } from "node:child_process";
import { constants as fsConstants, writeFileSync } from "node:fs";
import { chmod, lstat, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { applicableLimits, bundleConfig, describeIsolation, describeLimits, HOSTNAME, MAPPED_IDS, ROOT_ID_SHIFT, type BundleSpec, type IdMapping, type ResourceLimits } from "./bundle.ts";
import type { EntrypointFacts } from "./diagnose.ts";
import { findOnPath } from "./find-on-path.ts";
import { cgroupSupport, type Emulation } from "./host.ts";
import type { ResolvedUser } from "./user.ts";

/** Where a static qemu-user is bind-mounted when binfmt_misc has no fix-binary entry. */
const QEMU_DIR_IN_ROOT = "/.aotpack-qemu";

const GATE_SCRIPT = `cat > "$1.tmp" && mv "$1.tmp" "$1" && while [ ! -e "$2" ]; do sleep 0.01; done`;

const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;

export function runcPath(): Promise<string | undefined> {
  return findOnPath("runc", SBIN_PATH);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * The user-namespace mapping: as root, the image's 0..65535 (or only 0 when `singleId`) to
 * the unprivileged range at ROOT_ID_SHIFT; otherwise our own uid and gid, to root inside.
 */
export function idMappings(singleId: boolean): { uidMap: IdMapping; gidMap: IdMapping } {
  if (!isRoot()) {
    return { uidMap: { containerID: 0, hostID: process.getuid?.() ?? 0, size: 1 }, gidMap: { containerID: 0, hostID: process.getgid?.() ?? 0, size: 1 } };
  }
  const size = singleId ? 1 : MAPPED_IDS;
  return { uidMap: { containerID: 0, hostID: ROOT_ID_SHIFT, size }, gidMap: { containerID: 0, hostID: ROOT_ID_SHIFT, size } };
}

/**
 * A fresh, empty file at `dir/name` under the root to mount over: whatever the image put at
 * `dir` (a symlink to a host file, a directory of links) is removed, never followed.
 */
async function freshMountPoints(rootDir: string, dir: string, names: string[]): Promise<void> {
  const hostDir = join(rootDir, dir);
  if (await lstat(hostDir).catch(() => undefined)) await rm(hostDir, { recursive: true, force: true });
  await mkdir(hostDir, { mode: 0o755 }); // fails if anything appeared meanwhile
  for (const name of names) {
    const handle = await open(join(hostDir, name), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o755);
    await handle.close();
  }
}

async function hostResolvConf(): Promise<string> {
  try {
    const text = await readFile("/etc/resolv.conf", "utf8");
    return text.length < 65536 ? text : "";
  } catch {
    return "";
  }
}

/** /etc/hosts, /etc/hostname and /etc/resolv.conf in the run's directory, as container runtimes write them. */
async function writeEtcFiles(baseDir: string): Promise<BundleSpec["binds"]> {
  const dir = join(baseDir, "etc");
  await mkdir(dir, { mode: 0o755 });
  const files: [string, string][] = [
    ["hosts", `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${HOSTNAME}\n`],
    ["hostname", `${HOSTNAME}\n`],
    ["resolv.conf", await hostResolvConf()],
  ];
  for (const [name, text] of files) await writeFile(join(dir, name), text, { mode: 0o644 });
  return files.map(([name]) => ({ source: join(dir, name), destination: `/etc/${name}` }));
}

export interface RuncLaunchInput {
  baseDir: string;
  rootDir: string;
  argv: string[];
  env: Map<string, string>;
  user: ResolvedUser;
  workingDir: string;
  emulation: Emulation;
  entrypoint: EntrypointFacts;
  rootless: boolean;
  resources?: ResourceLimits;
  readOnly?: boolean;
  /**
   * The image's init (`tini … --`, the head of argv) and, under qemu-user without binfmt_misc, the host's
   * static tini that runs in its place (the image's could not exec a foreign app there).
   */
  init?: { prefix: string[]; hostPath?: string };
}

export interface RuncLaunch {
  child: ReturnType<typeof spawn>;
  go: () => number;
  appPid: () => Promise<number>;
  namespacePid: number;
  rootless: boolean;
  isolationDetail: string;
  /** Requested limits this host cannot apply, e.g. "memory (no memory cgroup controller)". */
  limitsNotApplied: string[];
  /** Once runc has exited: whether the kernel's OOM killer struck in the container's cgroup; removes the container. */
  afterExit: () => Promise<{ oomKilled: boolean }>;
}

/** Limits runc can apply: none when rootless (runc would silently skip cgroups it may not write). */
async function limitsFor(wanted: ResourceLimits | undefined): Promise<ReturnType<typeof applicableLimits>> {
  const host = isRoot() ? await cgroupSupport() : { memory: false, swap: false, pids: false, cpu: false, reason: "rootless runc has no cgroup of its own here" };
  return applicableLimits(wanted ?? {}, host);
}

/** The OOM kills counted in the container's memory cgroup (v1 memory.oom_control, v2 memory.events), from runc's state. */
async function oomKills(stateFile: string): Promise<number> {
  const state = JSON.parse(await readFile(stateFile, "utf8").catch(() => "{}")) as { cgroup_paths?: Record<string, string> };
  const paths = state.cgroup_paths ?? {};
  for (const file of [paths.memory && join(paths.memory, "memory.oom_control"), paths[""] && join(paths[""], "memory.events")]) {
    if (!file) continue;
    const text = await readFile(file, "utf8").catch(() => "");
    const m = /^oom_kill (\d+)$/m.exec(text);
    if (m) return Number(m[1]);
  }
  return 0;
}

export async function launchRunc(p: RuncLaunchInput): Promise<RuncLaunch> {
  const runc = await runcPath();
  if (!runc) throw new AotpackError("runc is not installed, and it is what sandboxes the image", { hint: "install runc (apt-get install runc)" });
  const binds = await writeEtcFiles(p.baseDir);
  let args = p.argv;
  if (p.emulation.kind === "qemu") {
    // No binfmt fix-binary entry: the host's static qemu, bind-mounted read-only on a path made fresh.
    const name = `qemu-${p.emulation.machine}-static`;
    const hostInit = p.init?.hostPath;
    await freshMountPoints(p.rootDir, QEMU_DIR_IN_ROOT, hostInit ? [name, "init"] : [name]);
    binds.push({ source: p.emulation.qemuPath, destination: `${QEMU_DIR_IN_ROOT}/${name}`, exec: true });
    const program = p.init ? p.argv.slice(p.init.prefix.length) : p.argv;
    args = [`${QEMU_DIR_IN_ROOT}/${name}`, "-0", program[0] as string, p.entrypoint.imagePath, ...program.slice(1)];
    if (p.init && hostInit) {
      // The host's tini as PID 1, with the image's flags, starting qemu-user with the app.
      binds.push({ source: hostInit, destination: `${QEMU_DIR_IN_ROOT}/init`, exec: true });
      args = [`${QEMU_DIR_IN_ROOT}/init`, ...p.init.prefix.slice(1), ...args];
    } else if (p.init) {
      throw new AotpackError(`the image's init ${p.init.prefix[0]} cannot start the app under qemu-user without binfmt_misc`);
    }
  }
  const { uidMap, gidMap } = idMappings(p.rootless || !isRoot());
  // One id mapped (to root): the image's User cannot be taken on.
  const uid = uidMap.size === 1 ? 0 : p.user.uid;
  const gid = gidMap.size === 1 ? 0 : p.user.gid;
  if (uid >= uidMap.size || gid >= gidMap.size) {
    throw new AotpackError(`the image's user ${p.user.uid}:${p.user.gid} is outside the ${MAPPED_IDS} ids the sandbox maps`, { hint: "use a uid and gid below 65536" });
  }
  const statePath = join(p.baseDir, "runc-state.json");
  const goPath = join(p.baseDir, "go");
  const spec: BundleSpec = {
    args,
    env: [...p.env].map(([k, v]) => `${k}=${v}`),
    cwd: p.workingDir,
    uid,
    gid,
    uidMap,
    gidMap,
    rootless: !isRoot(),
    binds,
    gate: { path: "/bin/sh", args: ["sh", "-c", GATE_SCRIPT, "aotpack-gate", statePath, goPath] },
    ...(p.readOnly ? { readOnly: true } : {}),
  };
  const limits = await limitsFor(p.resources);
  spec.resources = limits.applied;
  await writeFile(join(p.baseDir, "config.json"), JSON.stringify(bundleConfig(spec), null, 1));
  // The image's root (a mapped id) must reach rootfs/ and the bind sources under the run's directory.
  await chmod(p.baseDir, 0o711);
  const id = `aotpack-${process.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(join(p.baseDir, "runc-id"), id);
  const runcRoot = join(p.baseDir, "runc");
  const rootArgs = ["--root", runcRoot, ...(isRoot() ? [] : ["--rootless", "true"])];
  // --keep: the stopped container's cgroup outlives the app, so its OOM count can be read; afterExit deletes it.
  const runcArgs = [...rootArgs, "run", "--keep", "--bundle", p.baseDir, id];
  // runc dies with us (setpriv's parent-death signal), and runc's init restores that signal
  // for the app, so a killed aotpack never leaves a container running.
  const setpriv = await findOnPath("setpriv");
  const [file, ...argv] = setpriv ? [setpriv, "--pdeathsig", "KILL", "--", runc, ...runcArgs] : [runc, ...runcArgs];
  // Own process group: a terminal's Ctrl-C reaches the app once, through our forwarding.
  const child = spawn(file as string, argv, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { PATH: SBIN_PATH } });
  let errText = "";
  const onErr = (d: Buffer): void => {
    errText = (errText + d.toString()).slice(-2000);
  };
  child.stderr?.on("data", onErr);
  const pid = await waitForState(child, statePath, () => errText).catch((err: unknown) => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
    throw err;
  });
  child.stderr?.off("data", onErr);
  return {
    child,
    go: () => {
      writeFileSync(goPath, "");
      return performance.now();
    },
    appPid: async () => pid,
    namespacePid: pid,
    // Not root: the network namespace belongs to our user namespace, which the relay must enter.
    rootless: !isRoot(),
    isolationDetail: describeIsolation(uidMap, describeLimits(limits.applied, limits.notApplied), p.readOnly),
    limitsNotApplied: limits.notApplied,
    afterExit: async () => {
      const oomKilled = limits.applied.memoryBytes ? (await oomKills(join(runcRoot, id, "state.json"))) > 0 : false;
      await new Promise<void>((resolve) => {
        const del = spawn(runc, [...rootArgs, "delete", "--force", id], { stdio: "ignore", env: { PATH: SBIN_PATH } });
        const timer = setTimeout(() => del.kill("SIGKILL"), 10_000);
        del.on("error", () => resolve());
        del.on("close", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      return { oomKilled };
    },
  };
}

/** The app's host PID, from the state runc hands the createRuntime hook. */
async function waitForState(child: ReturnType<typeof spawn>, statePath: string, stderr: () => string): Promise<number> {
  const deadline = performance.now() + 20_000;
  let exited = false;
  child.once("exit", () => (exited = true));
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  for (;;) {
    const text = await readFile(statePath, "utf8").catch(() => undefined);
    if (text !== undefined) {
      const pid = (JSON.parse(text) as { pid?: unknown }).pid;
      if (typeof pid === "number" && pid > 0) return pid;
      throw new AotpackError("runc reported no PID for the container");
    }
    if (spawnError) throw new AotpackError(`cannot start runc: ${spawnError.message}`);
    if (exited) {
      const last = stderr().trim().split("\n").pop() ?? "";
      throw new AotpackError(`runc could not start the sandbox: ${last.replace(/^time="[^"]*" level=\w+ msg="?/, "").replace(/"$/, "") || "unknown error"}`);
    }
    if (performance.now() > deadline) throw new AotpackError("the sandbox did not come up within 20 s");
    await new Promise((r) => setTimeout(r, 15));
  }
}
