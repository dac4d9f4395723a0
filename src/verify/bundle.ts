/**
 * The OCI runtime-spec bundle for one sandboxed run (config.json beside the unpacked rootfs),
 * for runc. What it asks for, and why, is the isolation list of docs/decisions.md
 * ("run/verify: every image is hostile"): a user namespace mapping the image's ids to an
 * unprivileged host range, pivot_root (runc's default), mount/PID/net/UTS/IPC/cgroup
 * namespaces, no capabilities, no_new_privs, a seccomp filter, a writable rootfs (this run's own
 * unpacked copy, as docker run's container layer; read-only when asked) with a tmpfs /tmp, runc's masked and read-only /proc paths, and /etc/hosts, /etc/hostname and
 * /etc/resolv.conf bind-mounted from the run's own directory (the image's files never change).
 */
import { seccompProfile } from "./seccomp.ts";
import { formatSize } from "./unpack.ts";

/** Host ids the image's 0..65535 map to when we run as root (no /etc/subuid entry needed). */
export const ROOT_ID_SHIFT = 1_000_000_000;
export const MAPPED_IDS = 65536;

export const HOSTNAME = "aotpack";

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface BundleSpec {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  /** Ids of the user namespace: the shifted range (as root) or our own id only (not root). */
  uidMap: IdMapping;
  gidMap: IdMapping;
  /** runc runs unprivileged (--rootless): no device cgroup, the host's /sys bound rather than mounted. */
  rootless: boolean;
  /** Host files bind-mounted read-only: /etc/hosts, /etc/hostname, /etc/resolv.conf, qemu. */
  binds: { source: string; destination: string; exec?: boolean }[];
  /** A host command run (as a createRuntime hook) once the namespaces exist, before the app starts. */
  gate?: { path: string; args: string[] };
  /** cgroup limits to apply (only those the host supports: see applicableLimits). */
  resources?: AppliedLimits;
  /** `--read-only`: the root is mounted read-only (default writable: the run's own copy, thrown away after). */
  readOnly?: boolean;
}

/** Resource limits, as `docker run` takes them; 0 or absent: none. */
export interface ResourceLimits {
  /** Bytes of memory (RSS and page cache, not address space: qemu-user's big reservations are fine). */
  memoryBytes?: number;
  /** Processes and threads. */
  pids?: number;
  /** CPUs' worth of time per period, e.g. 1.5. */
  cpus?: number;
}

export interface AppliedLimits extends ResourceLimits {
  /** The memory limit counts swap too (swap accounting is on), so the app cannot swap past it. */
  swapAccounted?: boolean;
}

/** The limits the host can apply, and a note for each it cannot. */
export function applicableLimits(wanted: ResourceLimits, host: { memory: boolean; swap: boolean; pids: boolean; cpu: boolean; reason?: string }): { applied: AppliedLimits; notApplied: string[] } {
  const applied: AppliedLimits = {};
  const notApplied: string[] = [];
  const why = (controller: string): string => host.reason ?? `no ${controller} cgroup controller`;
  if (wanted.memoryBytes) {
    if (host.memory) Object.assign(applied, { memoryBytes: wanted.memoryBytes, swapAccounted: host.swap });
    else notApplied.push(`memory (${why("memory")})`);
  }
  if (wanted.pids) {
    if (host.pids) applied.pids = wanted.pids;
    else notApplied.push(`pids (${why("pids")})`);
  }
  if (wanted.cpus) {
    if (host.cpu) applied.cpus = wanted.cpus;
    else notApplied.push(`cpus (${why("cpu")})`);
  }
  return { applied, notApplied };
}

/** "limits: memory 1 GiB, pids 1024", with what could not be applied named. */
export function describeLimits(applied: AppliedLimits, notApplied: string[]): string {
  const parts = [
    applied.memoryBytes ? `memory ${formatSize(applied.memoryBytes)}` : "",
    applied.pids ? `pids ${applied.pids}` : "",
    applied.cpus ? `cpus ${applied.cpus}` : "",
  ].filter(Boolean);
  const text = parts.length ? `limits: ${parts.join(", ")}` : "no resource limits";
  return notApplied.length ? `${text} (NOT applied: ${notApplied.join(", ")})` : text;
}

/** One line for reports: what the sandbox holds (verify prints it). */
export function describeIsolation(uidMap: IdMapping, limits = "no resource limits", readOnly = false): string {
  const ids = uidMap.size === 1 ? `userns (root → host uid ${uidMap.hostID})` : `userns (0-${uidMap.size - 1} → host ${uidMap.hostID}+)`;
  const root = readOnly ? "read-only rootfs" : "writable rootfs (this run's copy)";
  return `runc: ${ids} + pivot_root, mount/pid/net/uts/ipc namespaces, caps dropped, no_new_privs, seccomp allow-list, ${root}; ${limits}`;
}

const CPU_PERIOD_US = 100_000;

/** linux.resources: the device cgroup (as root) and the limits asked for. */
function resources(spec: BundleSpec): object | undefined {
  const r = spec.resources ?? {};
  const out = {
    ...(spec.rootless ? {} : { devices: [{ allow: false, access: "rwm" }] }),
    // swap = limit: the OCI swap value is memory+swap, so no swap beyond the limit.
    ...(r.memoryBytes ? { memory: { limit: r.memoryBytes, ...(r.swapAccounted ? { swap: r.memoryBytes } : {}) } } : {}),
    ...(r.pids ? { pids: { limit: r.pids } } : {}),
    ...(r.cpus ? { cpu: { quota: Math.round(r.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US } } : {}),
  };
  return Object.keys(out).length ? out : undefined;
}

const NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"];

export function bundleConfig(spec: BundleSpec): object {
  const mounts: object[] = [
    { destination: "/proc", type: "proc", source: "proc", options: NOSUID_NOEXEC_NODEV },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: [...NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"] },
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=262144k"] },
    // A rootless runc may not mount sysfs for a network namespace it does not own: bind the host's, read-only.
    spec.rootless
      ? { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] }
      : { destination: "/sys", type: "sysfs", source: "sysfs", options: [...NOSUID_NOEXEC_NODEV, "ro"] },
    // Read-only, in the cgroup namespace, as Docker mounts it: runtimes size their heaps by the limit they see
    // there (.NET's GC reserves 256 GB otherwise, which qemu-user 7.2 books page by page: 1.6 GB resident).
    ...(spec.rootless ? [] : [{ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [...NOSUID_NOEXEC_NODEV, "relatime", "ro"] }]),
    ...spec.binds.map((b) => ({
      destination: b.destination,
      type: "bind",
      source: b.source,
      options: ["bind", "ro", "nosuid", "nodev", ...(b.exec ? [] : ["noexec"])],
    })),
  ];
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: spec.uid, gid: spec.gid },
      args: spec.args,
      env: spec.env,
      cwd: spec.cwd,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      noNewPrivileges: true,
    },
    // Writable by default, as docker run's container layer: rootfs/ is this run's own unpacked copy, removed after it.
    root: { path: "rootfs", readonly: spec.readOnly ?? false },
    hostname: HOSTNAME,
    mounts,
    ...(spec.gate ? { hooks: { createRuntime: [spec.gate] } } : {}),
    linux: {
      uidMappings: [spec.uidMap],
      gidMappings: [spec.gidMap],
      namespaces: ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"].map((type) => ({ type })),
      ...(resources(spec) ? { resources: resources(spec) } : {}),
      seccomp: seccompProfile(),
      maskedPaths: [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}
