export interface ElfInfo {
  /** 32 or 64. */
  class: 32 | 64;
  /** `uname -m` style: "x86_64", "aarch64", "arm", … */
  machine: string;
  /** PT_INTERP, e.g. "/lib64/ld-linux-x86-64.so.2"; absent for static binaries. */
  interpreter?: string;
  /** DT_NEEDED entries in order, e.g. ["libc.so.6", "libm.so.6"]. */
  needed: string[];
  /** True when there is no PT_INTERP and no DT_NEEDED. */
  static: boolean;
}
