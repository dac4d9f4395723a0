/**
 * Run one platform's image without a container engine: unpack it, check it can start
 * (diagnose.ts), then start its entrypoint in mount + PID + network namespaces chrooted
 * into the rootfs (root), or on the host's loopback without isolation (otherwise).
 * Foreign architectures run under qemu-user: binfmt_misc (F flag) when registered, else a
 * static qemu copied into the rootfs and started there explicitly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { constants as osConstants } from "node:os";
import { AotpackError, UsageError } from "../errors.ts";
import { isImageIndex, type Image, type ImageIndex } from "../oci/interfaces.ts";
import { formatPlatform, hostPlatform, isAttestationDescriptor, platformEquals, type Platform } from "../oci/platform.ts";
import type { Descriptor, ImageConfigFile } from "../oci/types.ts";
import { DEFAULT_PATH, diagnoseEntrypoint, type EntrypointFacts } from "./diagnose.ts";
import { emulationFor, findOnPath, namespacesAvailable, userNamespacesAvailable, type Emulation, type EmulationOptions } from "./host.ts";
import { startLoopbackRelay, startNamespaceRelay, type Relay } from "./relay.ts";
import { resolveInRoot } from "./rootfs-path.ts";
import { unpackImage } from "./unpack.ts";
import { resolveUser, type ResolvedUser } from "./user.ts";

export interface PortMapping {
  /** Port on the host's 127.0.0.1; 0 picks a free one (namespaces) or reuses `container` (host network). */
  host: number;
  container: number;
}

/** Parse `-p` values: "8080" (same port both sides), "9000:8080", "127.0.0.1:9000:8080"; "0:8080" picks a free host port. */
export function parsePortMapping(spec: string): PortMapping {
  const m = /^(?:(?:127\.0\.0\.1|localhost):)?(?:(\d{1,5}):)?(\d{1,5})(?:\/tcp)?$/.exec(spec.trim());
  const host = Number(m?.[1] ?? m?.[2]);
  const container = Number(m?.[2]);
  if (!m || host > 65535 || container < 1 || container > 65535) {
    throw new UsageError(`invalid port mapping "${spec}": expected [HOSTPORT:]CONTAINERPORT, e.g. 8080:8080 (ports are published on 127.0.0.1 only)`);
  }
  return { host, container };
}

/**
 * What isolation a run got. "namespaces": mount + PID + network namespaces and a chroot (root).
 * "rootless-namespaces": the same inside an unprivileged user namespace, where only our own uid is
 * mapped (to root), so the image's User cannot be taken on. "host": none, on the host's loopback.
 */
export type Isolation = "namespaces" | "rootless-namespaces" | "host";

export interface StartOptions {
  /** An image, or an index to pick `platform` from. */
  image: Image | ImageIndex;
  /** Which platform of an index; default: the host's, or the only one. */
  platform?: Platform;
  ports?: PortMapping[];
  /** Extra environment, `K=V` or a record; overrides the image's Env. */
  env?: string[] | Record<string, string>;
  /** Replace the image's Cmd (as `docker run IMAGE args…`). */
  args?: string[];
  /** "auto" (default): namespaces as root, else rootless namespaces when the kernel allows them, else host. */
  isolation?: "auto" | Isolation;
  emulation?: EmulationOptions;
  /** Each line the app prints (stdout and stderr). */
  onOutput?: (line: string, stream: "stdout" | "stderr") => void;
  /** Non-fatal notes: skipped device nodes, reduced isolation, … */
  onWarning?: (message: string) => void;
  /** Parent of the temporary rootfs (default: the OS temp dir). */
  tempDir?: string;
  /** How many of the app's last output lines to keep (default 40). */
  keepLogLines?: number;
}

export interface ExitStatus {
  /** The app's exit code; 128+N when killed by signal N (as shells and docker report it). */
  exitCode: number;
  signal?: NodeJS.Signals;
}

export interface RunningImage {
  platform: Platform;
  isolation: Isolation;
  /** True when the binary runs under qemu-user; then `pid` (and its RSS) is qemu's. */
  emulated: boolean;
  emulation: Emulation["kind"];
  entrypoint: EntrypointFacts;
  /** Host PID of the app process (PID 1 of its namespace when isolated). */
  pid: number;
  /** performance.now() when the process was spawned (after unpacking and checks). */
  startedAt: number;
  /** The mappings with the host ports actually bound. */
  ports: PortMapping[];
  /** Settles when the app has exited. */
  exited: Promise<ExitStatus>;
  /** The last lines the app printed. */
  logLines(): string[];
  /** Send a signal to the app itself (not to a wrapper). */
  signal(sig: NodeJS.Signals): void;
  /** Kill whatever is left, stop the relays and remove the unpacked rootfs. Idempotent. */
  close(): Promise<void>;
}

const QEMU_DIR_IN_ROOT = "/.aotpack-qemu";

/**
 * Apps still running, killed if this process exits without closing them (an uncaught error):
 * an app running as a non-root User has lost unshare's parent-death signal (see killAll).
 */
const livePids = new Set<number>();
let exitHookInstalled = false;
function trackPid(pid: number): void {
  livePids.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const p of livePids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/** Pick the image for `platform` (or the host's, or the only one) from an image or an index. */
export async function selectPlatformImage(source: Image | ImageIndex, platform?: Platform): Promise<{ image: Image; config: ImageConfigFile; platform: Platform }> {
  if (!isImageIndex(source)) {
    const config = await source.configFile();
    const own = configPlatform(config);
    if (platform && !platformEquals(platform, own)) {
      throw new UsageError(`the image is for ${formatPlatform(own)}, not ${formatPlatform(platform)}`);
    }
    return { image: source, config, platform: own };
  }
  const candidates = await imageDescriptors(source);
  const wanted = platform ?? hostPlatform();
  let chosen = candidates.find((c) => c.platform && platformEquals(c.platform, wanted));
  if (!chosen && !platform && candidates.length === 1) chosen = candidates[0];
  if (!chosen) {
    const have = candidates.map((c) => (c.platform ? formatPlatform(c.platform) : "unknown")).join(", ");
    throw new UsageError(`the image has no ${formatPlatform(wanted)} variant; it has ${have || "no runnable images"}`, {
      hint: "pick one with --platform",
    });
  }
  const image = await chosen.index.image(chosen.digest);
  const config = await image.configFile();
  return { image, config, platform: configPlatform(config) };
}

/** The runnable platforms of an index (attestations and unknown/unknown left out). */
export async function listPlatforms(source: Image | ImageIndex): Promise<Platform[]> {
  if (!isImageIndex(source)) return [configPlatform(await source.configFile())];
  return (await imageDescriptors(source)).flatMap((c) => (c.platform ? [c.platform] : []));
}

async function imageDescriptors(index: ImageIndex, depth = 0): Promise<(Descriptor & { index: ImageIndex })[]> {
  const out: (Descriptor & { index: ImageIndex })[] = [];
  for (const d of (await index.indexManifest()).manifests) {
    if (d.mediaType.includes("index") || d.mediaType.includes("manifest.list")) {
      if (depth < 4) out.push(...(await imageDescriptors(await index.imageIndex(d.digest), depth + 1)));
    } else if (!isAttestationDescriptor(d)) out.push({ ...d, index });
  }
  return out;
}

function configPlatform(config: ImageConfigFile): Platform {
  return config.variant ? { os: config.os, architecture: config.architecture, variant: config.variant } : { os: config.os, architecture: config.architecture };
}

function envRecord(env: string[] | Record<string, string> | undefined): [string, string][] {
  if (!env) return [];
  if (!Array.isArray(env)) return Object.entries(env);
  return env.map((kv) => {
    const i = kv.indexOf("=");
    if (i <= 0) throw new UsageError(`invalid environment entry "${kv}": expected KEY=VALUE`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  });
}

/** The process environment, as docker builds it: PATH default, image Env, HOME, then the caller's overrides. */
function buildEnv(config: ImageConfigFile, user: ResolvedUser, overrides: StartOptions["env"]): Map<string, string> {
  const env = new Map<string, string>([["PATH", DEFAULT_PATH]]);
  for (const [k, v] of envRecord(config.config?.Env)) env.set(k, v);
  if (!env.has("HOME")) env.set("HOME", user.home);
  env.set("HOSTNAME", "aotpack");
  for (const [k, v] of envRecord(overrides)) env.set(k, v);
  return env;
}

/** Make `imagePath` a real directory inside the root (replacing a file or symlink there). */
async function ensureRealDir(rootDir: string, imagePath: string): Promise<string> {
  const host = await resolveInRoot(rootDir, imagePath, { followFinal: false });
  const st = await lstat(host).catch(() => undefined);
  if (st && !st.isDirectory()) await rm(host, { force: true, recursive: true });
  if (!st?.isDirectory()) await mkdir(host, { recursive: true, mode: 0o755 });
  return host;
}

/** The WorkingDir inside the root (through symlinks, as the kernel will), created when missing as docker does. */
async function ensureWorkingDir(rootDir: string, workingDir: string): Promise<string> {
  const host = await resolveInRoot(rootDir, workingDir, { followFinal: true });
  const st = await lstat(host).catch(() => undefined);
  if (!st) await mkdir(host, { recursive: true, mode: 0o755 });
  else if (!st.isDirectory()) throw new AotpackError(`the image's WorkingDir ${workingDir} is not a directory`);
  return host;
}

async function chooseIsolation(wanted: "auto" | Isolation, warn: (m: string) => void): Promise<Isolation> {
  if (wanted === "host") return "host";
  if (wanted === "namespaces" || (wanted === "auto" && process.getuid?.() === 0)) {
    if (await namespacesAvailable()) return "namespaces";
    if (wanted === "namespaces") throw new AotpackError("namespaces are not available here (they need root and a working unshare)", { hint: "use --isolation host" });
  }
  if (await userNamespacesAvailable()) return "rootless-namespaces";
  if (wanted === "rootless-namespaces") {
    throw new AotpackError("unprivileged user namespaces are not available here", { hint: "run as root, or use --isolation host" });
  }
  warn("namespaces are not available (not root, and no unprivileged user namespaces): running on the host's loopback without isolation");
  return "host";
}

/** Start the image; the caller must `close()` the result. */
export async function startImage(options: StartOptions): Promise<RunningImage> {
  const warn = options.onWarning ?? (() => {});
  const { image, config, platform } = await selectPlatformImage(options.image, options.platform);
  const runtime = config.config ?? {};
  const argv = [...(runtime.Entrypoint ?? []), ...(options.args ?? runtime.Cmd ?? [])];
  if (argv.length === 0 || !argv[0]) throw new AotpackError("the image has no Entrypoint or Cmd: nothing to run", { hint: "pass the program after --" });
  // Before unpacking anything: can this host run the platform at all?
  const emulation = await emulationFor(platform, options.emulation);

  const baseDir = await mkdtemp(join(options.tempDir ?? tmpdir(), "aotpack-run-"));
  const rootDir = join(baseDir, "rootfs");
  const cleanupBase = (): Promise<void> => rm(baseDir, { recursive: true, force: true, maxRetries: 3 });
  try {
    await unpackImage(image, rootDir, { onWarning: warn });
    const user = await resolveUser(rootDir, runtime.User);
    const env = buildEnv(config, user, options.env);
    const workingDir = posix.resolve("/", runtime.WorkingDir || "/");
    const workingHostDir = await ensureWorkingDir(rootDir, workingDir);
    const entrypoint = await diagnoseEntrypoint(rootDir, argv[0] as string, platform, { workingDir, pathVar: env.get("PATH") ?? DEFAULT_PATH });

    let isolation = await chooseIsolation(options.isolation ?? "auto", warn);
    if (isolation === "rootless-namespaces" && user.uid !== 0) {
      warn(`a user namespace maps only your own uid: the app runs as root inside it, not as the image's User (${runtime.User})`);
    }
    if (isolation !== "host" && emulation.kind === "qemu" && !emulation.static) {
      warn(`${emulation.qemuPath} is not static, so it cannot run inside the image's chroot: running on the host's loopback`);
      isolation = "host";
    }
    const launch =
      isolation !== "host"
        ? await launchIsolated({ baseDir, rootDir, argv, env, user, workingDir, emulation, entrypoint, rootless: isolation === "rootless-namespaces" })
        : launchOnHost({ rootDir, argv, env, user, workingHostDir, emulation, entrypoint });
    return await supervise({ ...launch, options, platform, isolation, emulation, entrypoint, baseDir, cleanupBase });
  } catch (err) {
    await cleanupBase();
    throw err;
  }
}

interface Launch {
  child: ChildProcess;
  /** Let the app start (after the port relays are up, so they do not count as startup); returns performance.now() then. */
  go: () => number;
  /** Resolves to the app's host PID once it is known. */
  appPid: () => Promise<number>;
  /** A process in the namespaces (the relay enters its network namespace). */
  namespacePid?: number;
  /** The namespaces belong to an unprivileged user namespace (the relay must enter it too). */
  rootless?: boolean;
}

const LAUNCH_SCRIPT = `set -e
root=$1; ip=$2; shift 2
"$ip" link set lo up
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,noexec,mode=755,size=64k aotpack-dev "$root/dev"
for d in null zero full random urandom tty; do : > "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
ln -s /proc/self/fd "$root/dev/fd"; ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
echo ready >&3
read -r go <&3
exec 3>&-
exec env -i -- "$@"
`;

async function launchIsolated(p: {
  baseDir: string;
  rootDir: string;
  argv: string[];
  env: Map<string, string>;
  user: ResolvedUser;
  workingDir: string;
  emulation: Emulation;
  entrypoint: EntrypointFacts;
  rootless: boolean;
}): Promise<Launch> {
  const ip = await findOnPath("ip", `${process.env.PATH ?? ""}:/usr/sbin:/sbin`);
  if (!ip) throw new AotpackError("the `ip` tool is needed to bring up the namespace's loopback", { hint: "install iproute2" });
  await ensureRealDir(p.rootDir, "/proc");
  await ensureRealDir(p.rootDir, "/dev");
  let command = p.argv;
  if (p.emulation.kind === "qemu") {
    // No binfmt entry: a static qemu inside the chroot runs the binary; -0 keeps argv[0].
    const qemuDir = await ensureRealDir(p.rootDir, QEMU_DIR_IN_ROOT);
    const qemuName = `qemu-${p.emulation.machine}-static`;
    await copyFile(p.emulation.qemuPath, join(qemuDir, qemuName));
    await chmod(join(qemuDir, qemuName), 0o755);
    command = [`${QEMU_DIR_IN_ROOT}/${qemuName}`, "-0", p.argv[0] as string, p.entrypoint.imagePath, ...p.argv.slice(1)];
  }
  const scriptPath = join(p.baseDir, "launch.sh");
  await writeFile(scriptPath, LAUNCH_SCRIPT, { mode: 0o700 });
  const envPairs = [...p.env].map(([k, v]) => `${k}=${v}`);
  // In a user namespace only root is mapped, and setgroups is denied: no User switch there.
  const userSwitch = p.rootless ? [] : [`--setgid=${p.user.gid}`, `--setuid=${p.user.uid}`];
  const unshareInChroot = ["unshare", `--root=${p.rootDir}`, `--wd=${p.workingDir}`, ...userSwitch, "--", ...command];
  // `unshare` resolves to a host path before `env -i` drops PATH.
  const unshareBin = (await findOnPath("unshare")) ?? "/usr/bin/unshare";
  unshareInChroot[0] = unshareBin;
  const child = spawn(
    "unshare",
    [
      ...(p.rootless ? ["--user", "--map-root-user"] : []),
      ...["--mount", "--propagation=private", "--pid", "--net", "--fork", "--kill-child"],
      ...["/bin/sh", scriptPath, p.rootDir, ip, ...envPairs, ...unshareInChroot],
    ],
    // Own process group: a terminal's Ctrl-C must reach the app once, through our forwarding,
    // not kill the wrapper (whose --kill-child would then SIGKILL the app).
    { stdio: ["ignore", "pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }, detached: true },
  );
  // fd 3 says "namespace ready"; after our "go" the script's process becomes the app (exec), PID 1 inside.
  await new Promise<void>((resolve, reject) => {
    let errText = "";
    child.stderr?.on("data", (d: Buffer) => (errText = (errText + d.toString()).slice(-2000)));
    const timer = setTimeout(() => reject(new AotpackError("the isolated environment did not come up within 15 s")), 15_000);
    const ready = child.stdio[3];
    ready?.on("error", () => {}); // EPIPE when the wrapper died; its exit is reported instead
    ready?.once("data", () => {
      clearTimeout(timer);
      resolve();
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new AotpackError(`cannot start unshare: ${err.message}`, { hint: "install util-linux" }));
    });
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new AotpackError(`setting up namespaces failed: ${errText.trim().split("\n").pop() ?? "unknown error"}`));
    });
  }).catch((err: unknown) => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
    throw err;
  });
  const wrapperPid = child.pid as number;
  return {
    child,
    go: () => {
      // fd 3 is a socketpair: the script waits on it before it execs the app.
      (child.stdio[3] as NodeJS.WritableStream).write("go\n");
      return performance.now();
    },
    namespacePid: wrapperPid,
    rootless: p.rootless,
    appPid: async () => {
      const children = (await readFile(`/proc/${wrapperPid}/task/${wrapperPid}/children`, "utf8")).trim().split(/\s+/);
      const pid = Number(children[0]);
      if (!Number.isInteger(pid) || pid <= 0) throw new AotpackError("the app exited before it could be watched");
      return pid;
    },
  };
}

function launchOnHost(p: {
  rootDir: string;
  argv: string[];
  env: Map<string, string>;
  user: ResolvedUser;
  workingHostDir: string;
  emulation: Emulation;
  entrypoint: EntrypointFacts;
}): Launch {
  // Without a chroot the image's absolute paths mean host paths: the binary is run by its
  // host path, and (native) with the host's loader. qemu gets the rootfs as loader prefix.
  let file = p.entrypoint.hostPath;
  let args = p.argv.slice(1);
  const env = Object.fromEntries(p.env);
  if (p.emulation.kind === "qemu") {
    file = p.emulation.qemuPath;
    args = ["-L", p.rootDir, "-0", p.argv[0] as string, p.entrypoint.hostPath, ...p.argv.slice(1)];
  } else if (p.emulation.kind === "binfmt") {
    env.QEMU_LD_PREFIX = p.rootDir;
  }
  const asUser = process.getuid?.() === 0 && p.user.uid !== 0 ? { uid: p.user.uid, gid: p.user.gid } : {};
  const startedAt = performance.now();
  const child = spawn(file, args, { cwd: p.workingHostDir, env, stdio: ["ignore", "pipe", "pipe"], argv0: p.argv[0], detached: true, ...asUser });
  return {
    child,
    go: () => startedAt,
    appPid: async () => {
      if (child.pid === undefined) throw new AotpackError(`cannot start ${p.entrypoint.imagePath}`);
      return child.pid;
    },
  };
}

async function supervise(p: Launch & {
  options: StartOptions;
  platform: Platform;
  isolation: Isolation;
  emulation: Emulation;
  entrypoint: EntrypointFacts;
  baseDir: string;
  cleanupBase: () => Promise<void>;
}): Promise<RunningImage> {
  const { child } = p;
  const keep = p.options.keepLogLines ?? 40;
  const lines: string[] = [];
  const onLine = (stream: "stdout" | "stderr") => {
    let partial = "";
    return (chunk: Buffer): void => {
      const parts = (partial + chunk.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (lines.length > keep) lines.shift();
        p.options.onOutput?.(line, stream);
      }
    };
  };
  child.stdout?.on("data", onLine("stdout"));
  child.stderr?.on("data", onLine("stderr"));

  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("error", (err) => {
      lines.push(`aotpack: cannot start: ${err.message}`);
      resolve({ exitCode: 127 });
    });
    child.once("close", (code, signal) => {
      if (signal) resolve({ exitCode: 128 + (osConstants.signals[signal] ?? 0), signal });
      else resolve({ exitCode: code ?? 1 });
    });
  });
  let closed = false;
  const relays: Relay[] = [];
  let appPid: number | undefined;
  const killAll = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // The app first: unshare's --kill-child is a parent-death signal, which the kernel
    // clears when the app switches to the image's User, so killing the wrapper is not enough.
    // SIGKILL to PID 1 of a namespace takes the whole namespace with it.
    for (const pid of [appPid, child.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await Promise.all(relays.map((r) => r.close()));
    killAll();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    await p.cleanupBase();
  };

  try {
    const pid = await p.appPid();
    appPid = pid;
    for (const tracked of [pid, child.pid]) {
      if (tracked === undefined) continue;
      trackPid(tracked);
      void exited.then(() => livePids.delete(tracked));
    }
    const ports: PortMapping[] = [];
    for (const [i, mapping] of (p.options.ports ?? []).entries()) {
      if (p.isolation !== "host") {
        const relay = await startNamespaceRelay({
          namespacePid: p.namespacePid as number,
          enterUserNamespace: p.rootless ?? false,
          hostPort: mapping.host,
          containerPort: mapping.container,
          socketPath: join(p.baseDir, `port-${i}.sock`),
        });
        relays.push(relay);
        ports.push({ host: relay.hostPort, container: mapping.container });
      } else if (mapping.host === 0 || mapping.host === mapping.container) {
        ports.push({ host: mapping.container, container: mapping.container });
      } else {
        const relay = await startLoopbackRelay(mapping.host, mapping.container);
        relays.push(relay);
        ports.push({ host: relay.hostPort, container: mapping.container });
      }
    }
    const startedAt = p.go();
    return {
      platform: p.platform,
      isolation: p.isolation,
      emulated: p.emulation.kind !== "native",
      emulation: p.emulation.kind,
      entrypoint: p.entrypoint,
      pid,
      startedAt,
      ports,
      exited,
      logLines: () => [...lines],
      signal: (sig) => {
        try {
          process.kill(pid, sig);
        } catch {
          // already gone
        }
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface RunOptions extends StartOptions {
  /** Forward SIGTERM and SIGINT received by this process to the app (default true). */
  forwardSignals?: boolean;
  /** Called once the app is started (ports bound), e.g. to print where it listens. */
  onStarted?: (running: RunningImage) => void;
}

/** `aotpack run`: start the image, forward signals, wait, clean up; resolves to the app's exit code. */
export async function runImage(options: RunOptions): Promise<number> {
  const running = await startImage(options);
  const forward = options.forwardSignals ?? true;
  const handler = (sig: NodeJS.Signals): void => running.signal(sig);
  if (forward) {
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  }
  try {
    options.onStarted?.(running);
    const status = await running.exited;
    return status.exitCode;
  } finally {
    if (forward) {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    }
    await running.close();
  }
}
