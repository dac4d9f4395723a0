/** The few files a minimal Debian-style root needs besides packages: users, groups, /tmp, nsswitch, usrmerge links. */
import type { LayerEntry } from "../oci/layer.ts";

/**
 * 65532 is distroless's `nonroot`. We use the same number so images move between
 * distroless and aotpack bases without re-chowning volumes, and because it sits far
 * from any host range (1000+) and from the 65534 `nobody`.
 */
export const NONROOT_UID = 65532;
export const NONROOT_USER = "nonroot";
/** Numeric, so Kubernetes `runAsNonRoot` can check it without reading /etc/passwd. */
export const DEFAULT_USER = `${NONROOT_UID}:${NONROOT_UID}`;

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
${NONROOT_USER}:x:${NONROOT_UID}:${NONROOT_UID}:${NONROOT_USER}:/home/${NONROOT_USER}:/sbin/nologin
`;

const GROUP = `root:x:0:
nogroup:x:65534:
${NONROOT_USER}:x:${NONROOT_UID}:
`;

// glibc reads this for getpwnam/getaddrinfo; without it "hosts" falls back to dns-only.
const NSSWITCH = `passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
ethers: files
rpc: files
`;

/**
 * `hasLib64`: only architectures whose loader lives in /lib64 (amd64) get that link,
 * as on a usrmerged Debian system.
 */
export function skeletonEntries(options: { hasLib64: boolean }): LayerEntry[] {
  const entries: LayerEntry[] = [
    { path: "/bin", type: "symlink", linkname: "usr/bin" },
    { path: "/sbin", type: "symlink", linkname: "usr/sbin" },
    { path: "/lib", type: "symlink", linkname: "usr/lib" },
    { path: "/usr/bin", type: "directory", mode: 0o755 },
    { path: "/usr/sbin", type: "directory", mode: 0o755 },
    { path: "/usr/lib", type: "directory", mode: 0o755 },
    { path: "/etc/passwd", type: "file", content: PASSWD, mode: 0o644 },
    { path: "/etc/group", type: "file", content: GROUP, mode: 0o644 },
    { path: "/etc/nsswitch.conf", type: "file", content: NSSWITCH, mode: 0o644 },
    { path: "/tmp", type: "directory", mode: 0o1777 },
    { path: "/root", type: "directory", mode: 0o700 },
    { path: "/home", type: "directory", mode: 0o755 },
    { path: `/home/${NONROOT_USER}`, type: "directory", mode: 0o700, uid: NONROOT_UID, gid: NONROOT_UID },
  ];
  if (options.hasLib64) entries.push({ path: "/lib64", type: "symlink", linkname: "usr/lib64" });
  return entries;
}
