/** What this host can do for `run`/`verify`: namespaces, qemu-user, tools on PATH. */
import { spawn } from "node:child_process";
import { AotpackError } from "../errors.ts";
import { readElf } from "../elf/read-elf.ts";
import { formatPlatform, hostPlatform, unameMachine, type Platform } from "../oci/platform.ts";
import { binfmtFixBinaryReady } from "./binfmt.ts";
import { findOnPath } from "./find-on-path.ts";

export { findOnPath };

const probes = new Map<string, Promise<boolean>>();

function probe(args: string[]): Promise<boolean> {
  const key = args.join(" ");
  let result = probes.get(key);
  if (!result) {
    result = new Promise((resolve) => {
      const child = spawn("unshare", [...args, "--mount", "--pid", "--net", "--fork", "--kill-child", "true"], { stdio: "ignore" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.on("error", () => resolve(false));
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
    });
    probes.set(key, result);
  }
  return result;
}

/**
 * True when we can create mount, PID and network namespaces and chroot: root with a
 * working `unshare`. Probed once per process (a container without CAP_SYS_ADMIN says no).
 */
export function namespacesAvailable(): Promise<boolean> {
  return process.getuid?.() === 0 ? probe([]) : Promise.resolve(false);
}

/** True when an unprivileged user namespace (mapped to root inside) can hold the same namespaces. */
export function userNamespacesAvailable(): Promise<boolean> {
  return probe(["--user", "--map-root-user"]);
}

/** How a platform's binaries run here. */
export type Emulation =
  | { kind: "native" }
  /** binfmt_misc has qemu with the F flag: exec directly, even in a chroot. */
  | { kind: "binfmt"; machine: string }
  /** We start qemu-user ourselves; `static` tells whether it can be copied into a chroot. */
  | { kind: "qemu"; machine: string; qemuPath: string; static: boolean };

export interface EmulationOptions {
  /** Where to look for qemu-user (default: PATH). */
  searchPath?: string;
  /** binfmt_misc mount point (default /proc/sys/fs/binfmt_misc); tests point it elsewhere. */
  binfmtDir?: string;
}

/** Decide how to run `platform` on this host, or say which package is missing. */
export async function emulationFor(platform: Platform, options: EmulationOptions = {}): Promise<Emulation> {
  const host = hostPlatform();
  if (platform.os !== "linux") throw new AotpackError(`cannot run ${formatPlatform(platform)} images: only linux images run here`);
  if (platform.architecture === host.architecture) return { kind: "native" };
  const machine = unameMachine(platform);
  if (await binfmtFixBinaryReady(machine, options.binfmtDir)) return { kind: "binfmt", machine };
  for (const name of [`qemu-${machine}-static`, `qemu-${machine}`]) {
    const qemuPath = await findOnPath(name, options.searchPath);
    if (!qemuPath) continue;
    const isStatic = await readElf(qemuPath).then((e) => e.static, () => false);
    return { kind: "qemu", machine, qemuPath, static: isStatic };
  }
  throw new AotpackError(
    `running ${formatPlatform(platform)} on this ${unameMachine(host)} host needs qemu-user (qemu-${machine}-static), which is not installed`,
    { hint: "install qemu-user-static (apt-get install qemu-user-static)" },
  );
}

/** Which cgroup limits runc can apply here (as root; a rootless runc gets none without a delegated cgroup). */
export interface CgroupSupport {
  memory: boolean;
  /** Swap is accounted, so the memory limit can include it (no swapping past the limit). */
  swap: boolean;
  pids: boolean;
  cpu: boolean;
  /** Why nothing applies, when nothing does. */
  reason?: string;
}

let cgroupProbe: Promise<CgroupSupport> | undefined;

/** Probed once: cgroup v2 (the controllers of our own cgroup) or v1 (the mounted hierarchies). */
export function cgroupSupport(): Promise<CgroupSupport> {
  cgroupProbe ??= (async () => {
    const { access, readFile } = await import("node:fs/promises");
    const has = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
    const none = (reason: string): CgroupSupport => ({ memory: false, swap: false, pids: false, cpu: false, reason });
    if (await has("/sys/fs/cgroup/cgroup.controllers")) {
      const own = /^0::(.*)$/m.exec(await readFile("/proc/self/cgroup", "utf8").catch(() => ""))?.[1] ?? "/";
      const dir = `/sys/fs/cgroup${own === "/" ? "" : own}`;
      const controllers = (await readFile(`${dir}/cgroup.controllers`, "utf8").catch(() => "")).split(/\s+/);
      const memory = controllers.includes("memory");
      return { memory, swap: memory && (await has(`${dir}/memory.swap.max`)), pids: controllers.includes("pids"), cpu: controllers.includes("cpu") };
    }
    if (!(await has("/sys/fs/cgroup"))) return none("no cgroup filesystem at /sys/fs/cgroup");
    const memory = await has("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    return {
      memory,
      swap: memory && (await has("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")),
      pids: await has("/sys/fs/cgroup/pids/cgroup.procs"),
      cpu: await has("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    };
  })();
  return cgroupProbe;
}
