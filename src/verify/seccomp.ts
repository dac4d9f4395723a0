/**
 * The seccomp filter for sandboxed apps: allow by default, refuse (EPERM) the syscalls a web
 * API never needs and a container escape usually does — new namespaces, mounts, kernel
 * modules, keyrings, bpf, ptrace of others, kexec. A deny-list, unlike Docker's allow-list,
 * so a runtime's new syscall (Bun, .NET, qemu-user) is never the reason an image fails.
 */

const EPERM = 1;
const ENOSYS = 38;

/** Refused outright. */
const DENIED = [
  "acct", "add_key", "bpf", "delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
  "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
  "mount", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree",
  "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "ptrace", "quotactl", "reboot",
  "request_key", "setns", "swapoff", "swapon", "syslog", "umount2", "unshare", "userfaultfd", "uselib", "vhangup",
];

/** CLONE_NEW* flags: clone may make threads and processes, not namespaces. */
const CLONE_NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080];

export interface SeccompProfile {
  defaultAction: string;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo: number; op: string }[] }[];
}

function architectures(): string[] {
  return process.arch === "arm64" ? ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"] : ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
}

export function seccompProfile(): SeccompProfile {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: architectures(),
    syscalls: [
      { names: DENIED, action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
      // clone3 hides its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
      ...CLONE_NAMESPACE_FLAGS.map((flag) => ({
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }],
      })),
    ],
  };
}
