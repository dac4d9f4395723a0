/**
 * Run one platform's image without a container engine: unpack it (with limits, diff_ids
 * checked), check it can start (diagnose.ts), then run its entrypoint in runc's sandbox
 * (runc.ts, bundle.ts: user namespace, pivot_root, no caps, no_new_privs, seccomp), or on
 * the host's loopback only when asked and never as host root without --unsafe-host-root.
 * Foreign architectures run under qemu-user: binfmt_misc (F flag) when registered, else the
 * host's static qemu bind-mounted read-only into the sandbox.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { lstat, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { stripAnsi } from "../ansi.ts";
import { join, posix } from "node:path";
import { constants as osConstants } from "node:os";
import { AotpackError, UsageError } from "../errors.ts";
import { isImageIndex, type Image, type ImageIndex } from "../oci/interfaces.ts";
import { formatPlatform, hostPlatform, platformOfConfig, type Platform } from "../oci/platform.ts";
import { imageEntries, selectImage } from "../oci/select.ts";
import type { ImageConfigFile } from "../oci/types.ts";
import { DEFAULT_PATH, diagnoseEntrypoint, type EntrypointFacts } from "./diagnose.ts";
import { emulationFor, userNamespacesAvailable, type Emulation, type EmulationOptions } from "./host.ts";
import { startLoopbackRelay, startNamespaceRelay, type Relay } from "./relay.ts";
import { resolveInRoot } from "./rootfs-path.ts";
import { createRunDir, reachableRunParent, removeRunDir } from "./run-dirs.ts";
import { launchRunc, runcPath } from "./runc.ts";
import { ROOT_ID_SHIFT, type ResourceLimits } from "./bundle.ts";
import { formatSize, unpackImage, type UnpackLimits } from "./unpack.ts";
import { resolveUser, type ResolvedUser } from "./user.ts";
import { hostStaticInit, splitInit } from "./init.ts";

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
 * What isolation a run got. "namespaces": runc's sandbox, a user namespace mapping the image's
 * ids 0..65535 to an unprivileged host range (as root). "rootless-namespaces": the same with one
 * id mapped (our own uid when not root), so the image's User cannot be taken on. "host": none,
 * on the host's loopback.
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
  /** Allow running an image's root user as host root (isolation "host" as root). */
  unsafeHostRoot?: boolean;
  /** Bounds on the unpacked image (defaults in unpack.ts). */
  limits?: Partial<UnpackLimits>;
  /** cgroup limits in the sandbox (memory, pids, CPUs); none by default, as docker run. */
  resources?: ResourceLimits;
  /** A read-only root (docker run --read-only). Default: writable, this run's own copy, thrown away after it. */
  readOnly?: boolean;
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
  /** The kernel's OOM killer struck in the sandbox's memory cgroup (the memory limit was reached). */
  oomKilled?: boolean;
}

export interface RunningImage {
  platform: Platform;
  isolation: Isolation;
  /** What the sandbox holds, one line (e.g. "runc: userns … + pivot_root, caps dropped, no_new_privs, …"). */
  isolationDetail: string;
  /** True when the binary runs under qemu-user; then `pid` (and its RSS) is qemu's. */
  emulated: boolean;
  emulation: Emulation["kind"];
  /** The app's program (after the init, when there is one). */
  entrypoint: EntrypointFacts;
  /**
   * The init PID 1 runs before the app ("/usr/bin/tini", or the host's static tini in its place under
   * qemu-user), undefined when the app is PID 1 itself or there is no PID namespace.
   */
  init?: string;
  /** Host PID of PID 1 of its namespace when isolated (the init when there is one, else the app). */
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

/**
 * Apps still running, killed if this process exits without closing them (an uncaught error):
 * an app running as a non-root User has lost unshare's parent-death signal (see killAll).
 */
const livePids = new Set<number>();
/** close() of every started, not yet closed image. */
const openRuns = new Set<() => Promise<void>>();
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
  const { image } = await selectImage(source, {
    ...(platform ? { platform } : {}),
    missing: (wanted, candidates) => {
      if (!isImageIndex(source)) return new UsageError(`the image is for ${formatPlatform(candidates[0]!.platform!)}, not ${formatPlatform(wanted!)}`);
      const have = candidates.map((c) => (c.platform ? formatPlatform(c.platform) : "unknown")).join(", ");
      return new UsageError(`the image has no ${formatPlatform(wanted ?? hostPlatform())} variant; it has ${have || "no runnable images"}`, {
        hint: "pick one with --platform",
      });
    },
  });
  const config = await image.configFile();
  return { image, config, platform: platformOfConfig(config) };
}

/** The runnable platforms of an index (attestations and unknown/unknown left out). */
export async function listPlatforms(source: Image | ImageIndex): Promise<Platform[]> {
  return (await imageEntries(source)).flatMap((c) => (c.platform ? [c.platform] : []));
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
  const root = process.getuid?.() === 0;
  const runc = await runcPath();
  const missing = !runc ? "runc is not installed" : !root && !(await userNamespacesAvailable()) ? "unprivileged user namespaces are not available here" : undefined;
  if (!missing) return wanted === "auto" ? (root ? "namespaces" : "rootless-namespaces") : wanted === "namespaces" && !root ? "rootless-namespaces" : wanted;
  if (wanted !== "auto" || root) {
    throw new AotpackError(`cannot sandbox the image: ${missing}`, {
      hint: root ? "install runc (apt-get install runc), or run it unsandboxed with --isolation host --unsafe-host-root" : "install runc, or use --isolation host",
    });
  }
  warn(`no sandbox (${missing}): running on the host's loopback as your own user, without isolation`);
  return "host";
}

/** Start the image; the caller must `close()` the result. */
export async function startImage(options: StartOptions): Promise<RunningImage> {
  const warn = options.onWarning ?? (() => {});
  const { image, config, platform } = await selectPlatformImage(options.image, options.platform);
  const runtime = config.config ?? {};
  const imageArgv = [...(runtime.Entrypoint ?? []), ...(options.args ?? runtime.Cmd ?? [])];
  if (imageArgv.length === 0 || !imageArgv[0]) throw new AotpackError("the image has no Entrypoint or Cmd: nothing to run", { hint: "pass the program after --" });
  // Before unpacking anything: can this host run the platform at all?
  const emulation = await emulationFor(platform, options.emulation);

  const isolation = await chooseIsolation(options.isolation ?? "auto", warn);
  // Without a PID namespace the app is not PID 1 anyway, and the init would exec image paths on the host.
  const split = splitInit(imageArgv);
  const init = isolation === "host" ? undefined : split;
  const argv = isolation === "host" && split ? split.program : imageArgv;
  if (isolation === "host" && split) warn(`without a PID namespace the image's init (${split.init[0]}) is left out: the app runs by itself`);
  // Under qemu-user that we start, the image's tini cannot exec a foreign app: the host's static one stands in.
  const hostInit = init && isolation !== "host" && emulation.kind === "qemu" ? await requireHostInit(init.init[0]!, platform) : undefined;
  const parent = options.tempDir ?? tmpdir();
  const baseDir = await createRunDir(isolation === "host" ? parent : await reachableRunParent(parent), await runcPath());
  const rootDir = join(baseDir, "rootfs");
  const cleanupBase = (): Promise<void> => removeRunDir(baseDir);
  try {
    // As root, the rootfs belongs to the ids the sandbox maps the image's users to.
    const idShift = isolation !== "host" && process.getuid?.() === 0 ? ROOT_ID_SHIFT : 0;
    await unpackImage(image, rootDir, { onWarning: warn, idShift, ...(options.limits ? { limits: options.limits } : {}) });
    const user = await resolveUser(rootDir, runtime.User);
    if (isolation === "host" && process.getuid?.() === 0 && user.uid === 0 && !options.unsafeHostRoot) {
      throw new AotpackError("refusing to run the image's root user as root on the host without a sandbox (no user namespace, no pivot_root, all capabilities)", {
        hint: "drop --isolation host to use runc's sandbox, or pass --unsafe-host-root if you trust the image",
      });
    }
    const env = buildEnv(config, user, options.env);
    const workingDir = posix.resolve("/", runtime.WorkingDir || "/");
    const workingHostDir = await ensureWorkingDir(rootDir, workingDir);
    const lookup = { workingDir, pathVar: env.get("PATH") ?? DEFAULT_PATH };
    // The init must be able to start too (it is what runs on a real machine), then the app it starts.
    if (init) await diagnoseEntrypoint(rootDir, init.init[0]!, platform, lookup);
    const program = init ? init.program : argv;
    const entrypoint = await diagnoseEntrypoint(rootDir, program[0]!, platform, lookup);

    if (isolation === "rootless-namespaces" && user.uid !== 0) {
      warn(`a user namespace maps only one id: the app runs as root inside it, not as the image's User (${runtime.User})`);
    }
    if (isolation !== "host" && emulation.kind === "qemu" && !emulation.static) {
      throw new AotpackError(`${emulation.qemuPath} is not static, so it cannot run inside the sandbox`, {
        hint: "install qemu-user-static, or register it with `aotpack setup-binfmt`",
      });
    }
    const launch =
      isolation !== "host"
        ? await launchRunc({
            baseDir, rootDir, argv, env, user, workingDir, emulation, entrypoint, rootless: isolation === "rootless-namespaces",
            ...(init ? { init: { prefix: init.init, ...(hostInit ? { hostPath: hostInit } : {}) } } : {}),
            ...(options.resources ? { resources: options.resources } : {}),
            ...(options.readOnly ? { readOnly: true } : {}),
          })
        : launchOnHost({ rootDir, argv, env, user, workingHostDir, emulation, entrypoint });
    const notApplied = launch.limitsNotApplied ?? hostLimitsIgnored(options.resources);
    if (notApplied.length) warn(`resource limits not applied: ${notApplied.join(", ")}`);
    const initName = init ? (hostInit ? `${hostInit} (the host's, for the image's ${init.init[0]})` : init.init[0]!) : undefined;
    return await supervise({ ...launch, options, platform, isolation, emulation, entrypoint, ...(initName ? { init: initName } : {}), baseDir, cleanupBase });
  } catch (err) {
    await cleanupBase();
    throw err;
  }
}

/** The host's static tini, or an error saying why the image's init cannot run here and what helps. */
async function requireHostInit(imageInit: string, platform: Platform): Promise<string> {
  const found = await hostStaticInit();
  if (found) return found;
  throw new AotpackError(
    `the image starts its app under ${imageInit}, which cannot start a ${formatPlatform(platform)} program under qemu-user without binfmt_misc, and this host has no static tini to stand in for it`,
    { hint: "install tini (apt-get install tini: it ships /usr/bin/tini-static), or register qemu-user with `aotpack setup-binfmt`" },
  );
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
  isolationDetail: string;
  /** Requested limits the host cannot apply (runc only; none apply on the host). */
  limitsNotApplied?: string[];
  /** Once the launcher has exited: what the sandbox saw (an OOM kill), and its removal. */
  afterExit?: () => Promise<{ oomKilled: boolean }>;
}

/** Without runc, no cgroup: every requested limit is named as not applied. */
function hostLimitsIgnored(r: ResourceLimits | undefined): string[] {
  const asked = [r?.memoryBytes && "memory", r?.pids && "pids", r?.cpus && "cpus"].filter(Boolean);
  return asked.map((name) => `${name} (no sandbox: --isolation host)`);
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
    isolationDetail: "host network, no isolation",
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
  init?: string;
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
      for (const raw of parts) {
        // Logs and reports keep the text: colour codes read as "[32m" there.
        const line = stripAnsi(raw);
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
      const status: ExitStatus = signal ? { exitCode: 128 + (osConstants.signals[signal] ?? 0), signal } : { exitCode: code ?? 1 };
      if (!p.afterExit) return resolve(status);
      void p.afterExit().then(
        ({ oomKilled }) => resolve(oomKilled ? { ...status, oomKilled } : status),
        () => resolve(status),
      );
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
    openRuns.delete(close);
    await Promise.all(relays.map((r) => r.close()));
    killAll();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    await p.cleanupBase();
  };

  openRuns.add(close);
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
      isolationDetail: p.isolationDetail,
      emulated: p.emulation.kind !== "native",
      emulation: p.emulation.kind,
      entrypoint: p.entrypoint,
      ...(p.init ? { init: p.init } : {}),
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
  /** Forward SIGTERM and SIGINT received by this process to the app (default true); a second one sends SIGKILL. */
  forwardSignals?: boolean;
  /** After a forwarded signal, SIGKILL the app if it has not exited within this many ms (default 10 s, as docker stop). */
  stopTimeoutMs?: number;
  /** Aborting kills the app and cleans up (e.g. when our stdout is gone: EPIPE). */
  abort?: AbortSignal;
  /** Called once the app is started (ports bound), e.g. to print where it listens. */
  onStarted?: (running: RunningImage) => void;
}

/** `aotpack run`: start the image, forward signals, wait, clean up; resolves to the app's exit code. */
export async function runImage(options: RunOptions): Promise<number> {
  const running = await startImage(options);
  const forward = options.forwardSignals ?? true;
  let forwarded = 0;
  let killTimer: NodeJS.Timeout | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (++forwarded > 1) return running.signal("SIGKILL"); // a second Ctrl-C: no more waiting
    running.signal(sig);
    killTimer = setTimeout(() => running.signal("SIGKILL"), options.stopTimeoutMs ?? 10_000);
  };
  const onAbort = (): void => running.signal("SIGKILL");
  if (forward) {
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  }
  options.abort?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.abort?.aborted) onAbort();
    options.onStarted?.(running);
    const status = await running.exited;
    if (status.oomKilled) options.onWarning?.(`the app was killed by the kernel's OOM killer: it went over the sandbox's ${formatSize(options.resources?.memoryBytes ?? 0)} memory limit (--memory)`);
    return status.exitCode;
  } finally {
    clearTimeout(killTimer);
    options.abort?.removeEventListener("abort", onAbort);
    if (forward) {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    }
    await running.close();
  }
}

/**
 * For commands that do not forward signals (verify): SIGINT or SIGTERM closes every running
 * image (app killed, rootfs removed), then exits 128+N. The command's own work may finish first
 * (its runs were just closed): `interrupted()` then gives the exit code it must return instead.
 */
export function closeRunsOnSignals(): { uninstall(): void; interrupted(): Promise<number> | undefined } {
  let interrupted: Promise<number> | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    const code = 128 + (osConstants.signals[sig] ?? 0);
    interrupted ??= Promise.allSettled([...openRuns].map((close) => close())).then(() => code);
    void interrupted.then((c) => process.exit(c));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    uninstall: () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
    interrupted: () => interrupted,
  };
}
