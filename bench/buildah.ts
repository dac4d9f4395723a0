/**
 * The Dockerfile path, built for real and offline: a private buildah store (vfs, under a temp
 * dir), local builder and runtime images made from host files (as src/dockerfile/build.test.ts
 * does), and `buildah bud --platform linux/amd64,linux/arm64` of `aotpack dockerfile`'s output,
 * either as generated (cross-compiling build stage) or rewritten the way the post's first
 * attempt was (build stage on the target platform, so arm64 runs under qemu through binfmt).
 */
import { execFile } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { chmod, copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { cacheRoot } from "../src/cache.ts";
import { ensureBunRuntime, installedBun } from "../src/compile/bun-runtime.ts";
import { DebianArchive } from "../src/base/archive.ts";
import { chooseMirror } from "../src/base/mirror.ts";
import { parsePlatform } from "../src/oci/platform.ts";
import { missingTools } from "../test/support/index.ts";

const run = promisify(execFile);

export const BUILDER_IMAGE = "localhost/aotpack-bench-bun-builder:latest";
export const RUNTIME_IMAGE = "localhost/aotpack-bench-glibc:latest";

const GLIBC = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "libgcc_s.so.1", "libstdc++.so.6"];
const AMD64_LIB = "/lib/x86_64-linux-gnu";
const ARM64_LIB = "/usr/aarch64-linux-gnu/lib";

/** Why buildah cannot run here, or undefined. */
export function buildahUnavailable(): string | undefined {
  const tools = missingTools(["buildah", "qemu-aarch64-static"]);
  if (tools) return tools;
  if (process.getuid?.() !== 0) return "buildah here needs root (no rootless storage configured)";
  if (process.arch !== "x64") return "the builder image is made from the host's x86-64 Bun and glibc";
  if (!existsSync(`${ARM64_LIB}/libc.so.6`)) return "libc6-arm64-cross not installed";
  return undefined;
}

/**
 * `aotpack dockerfile` output rewritten as the post's first attempt: the build stage without
 * `--platform=$BUILDPLATFORM`, so each platform's compile runs on that platform (emulated).
 */
export function emulatedDockerfile(dockerfile: string): string {
  const re = /^FROM\s+--platform=\$BUILDPLATFORM\s+(.+\s+AS\s+build)\s*$/gim;
  const matches = dockerfile.match(re) ?? [];
  if (matches.length !== 1) throw new Error(`expected one 'FROM --platform=$BUILDPLATFORM … AS build' line, found ${matches.length}`);
  return dockerfile.replace(re, "FROM $1");
}

export interface BuildahStore {
  dir: string;
  /** Run buildah against the private store; rejects with its output on failure. */
  buildah(args: string[], timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** `driver`: vfs (default) works everywhere; overlay avoids a full rootfs copy per layer, which a 2 GB SDK image needs. */
export async function openStore(parent: string, driver: "vfs" | "overlay" = "vfs"): Promise<BuildahStore> {
  const dir = await mkdtemp(join(parent, "buildah-"));
  const storage = ["--root", join(dir, "storage"), "--runroot", join(dir, "run"), "--storage-driver", driver];
  const buildah = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    try {
      const { stdout } = await run("buildah", [...storage, ...args], { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024 });
      return stdout.trim();
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`buildah ${args.join(" ")} failed: ${e.message.split("\n")[0]}\n${(e.stderr ?? "").slice(-3000)}`);
    }
  };
  return {
    dir,
    buildah,
    close: async () => {
      await buildah(["rm", "--all"]).catch(() => undefined);
      // vfs layers are plain directories; overlay ones must be unmounted first, which rmi does.
      if (driver === "overlay") await buildah(["rmi", "--all", "--force"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function makeImage(store: BuildahStore, ref: string, arch: string, files: Array<[string, string]>): Promise<void> {
  const container = await store.buildah(["from", "--arch", arch, "--os", "linux", "scratch"]);
  try {
    for (const [src, dest] of files) await store.buildah(["copy", "--quiet", container, realpathSync(src), dest]);
    await store.buildah(["config", "--arch", arch, "--os", "linux", "--env", "PATH=/usr/local/bin:/bin", container]);
    await store.buildah(["commit", "--quiet", container, ref]);
  } finally {
    await store.buildah(["rm", container]);
  }
}

export async function makeManifest(store: BuildahStore, ref: string, parts: string[]): Promise<void> {
  await store.buildah(["manifest", "create", ref]);
  for (const p of parts) await store.buildah(["manifest", "add", ref, p]);
}

/** dash for arm64 from Debian (verified through aotpack's own archive code): the emulated build stage's /bin/sh. */
async function arm64Shell(workDir: string): Promise<string> {
  const archive = new DebianArchive({ mirror: chooseMirror(undefined), suite: "bookworm", cacheRoot: cacheRoot() });
  const record = (await archive.packages("arm64")).get("dash");
  if (!record) throw new Error("bookworm has no dash package for arm64");
  const tree = await archive.tree(record);
  // bookworm ships it at usr/bin/dash (merged /usr); older suites at bin/dash.
  const dash = [join(tree.root, "usr", "bin", "dash"), join(tree.root, "bin", "dash")].find((p) => existsSync(p));
  if (!dash) throw new Error(`dash ${record.version} (arm64) has no usr/bin/dash`);
  // The extracted tree keeps bytes, not modes; buildah copy keeps the source's mode.
  const sh = join(workDir, "sh-arm64");
  await copyFile(dash, sh);
  await chmod(sh, 0o755);
  return sh;
}

/**
 * Builder (bun + /bin/sh + glibc, both arches, so the build stage can also run on arm64
 * under qemu) and runtime (glibc only, like distroless/cc) images, multi-platform, local.
 */
export async function makeLocalImages(store: BuildahStore): Promise<void> {
  const bunAmd64 = installedBun().executable;
  const bunArm64 = await ensureBunRuntime(parsePlatform("linux/arm64"));
  const ldAmd64: [string, string] = ["/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"];
  const ldArm64: [string, string] = [`${ARM64_LIB}/ld-linux-aarch64.so.1`, "/lib/ld-linux-aarch64.so.1"];
  const libsAmd64 = GLIBC.map((l): [string, string] => [`${AMD64_LIB}/${l}`, `/lib/x86_64-linux-gnu/${l}`]);
  const libsArm64 = GLIBC.map((l): [string, string] => [`${ARM64_LIB}/${l}`, `/lib/aarch64-linux-gnu/${l}`]);
  await makeImage(store, `${BUILDER_IMAGE}-amd64`, "amd64", [[bunAmd64, "/usr/local/bin/bun"], ["/bin/sh", "/bin/sh"], ldAmd64, ...libsAmd64]);
  await makeImage(store, `${BUILDER_IMAGE}-arm64`, "arm64", [[bunArm64, "/usr/local/bin/bun"], [await arm64Shell(store.dir), "/bin/sh"], ldArm64, ...libsArm64]);
  await makeManifest(store, BUILDER_IMAGE, [`${BUILDER_IMAGE}-amd64`, `${BUILDER_IMAGE}-arm64`]);
  await makeRuntimeImage(store);
}

/** glibc + libstdc++ only, like distroless/cc, both arches: what Bun and NativeAOT executables load (ELF NEEDED). */
export async function makeRuntimeImage(store: BuildahStore): Promise<void> {
  const ldAmd64: [string, string] = ["/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"];
  const ldArm64: [string, string] = [`${ARM64_LIB}/ld-linux-aarch64.so.1`, "/lib/ld-linux-aarch64.so.1"];
  const libsAmd64 = GLIBC.map((l): [string, string] => [`${AMD64_LIB}/${l}`, `/lib/x86_64-linux-gnu/${l}`]);
  const libsArm64 = GLIBC.map((l): [string, string] => [`${ARM64_LIB}/${l}`, `/lib/aarch64-linux-gnu/${l}`]);
  await makeImage(store, `${RUNTIME_IMAGE}-amd64`, "amd64", [ldAmd64, ...libsAmd64]);
  await makeImage(store, `${RUNTIME_IMAGE}-arm64`, "arm64", [ldArm64, ...libsArm64]);
  await makeManifest(store, RUNTIME_IMAGE, [`${RUNTIME_IMAGE}-amd64`, `${RUNTIME_IMAGE}-arm64`]);
}

export interface BudResult {
  /** `buildah bud` of both platforms, seconds. */
  budSeconds: number;
  /** bud plus `manifest push --all` to an OCI layout (what `aotpack build -o oci:` delivers), seconds. */
  totalSeconds: number;
  /** Platforms found in the pushed layout, e.g. ["linux/amd64", "linux/arm64"]. */
  platforms: string[];
}

/** Build `dockerfile` in `contextDir` for both platforms and push the list to `layoutDir`. */
export async function budToLayout(
  store: BuildahStore,
  options: {
    dockerfile: string;
    contextDir: string;
    layoutDir: string;
    cache: boolean;
    name: string;
    timeoutMs: number;
    /** Default: the Bun builder and glibc runtime images above. */
    buildArgs?: Record<string, string>;
    /** "none" proves no RUN step reaches the network. */
    network?: "none";
  },
): Promise<BudResult> {
  const buildArgs = options.buildArgs ?? { BUILDER_IMAGE, RUNTIME_IMAGE };
  const list = `localhost/aotpack-bench-${options.name}:latest`;
  const t0 = performance.now();
  await store.buildah(
    [
      "bud",
      "--platform", "linux/amd64,linux/arm64",
      "--manifest", list,
      "--pull=never",
      // chroot isolation shares the host's network; only oci isolation can take it away.
      "--isolation", options.network ? "oci" : "chroot",
      "--layers",
      ...(options.cache ? [] : ["--no-cache"]),
      ...(options.network ? ["--network", options.network] : []),
      // Debian's buildah 1.28 does not set BUILDPLATFORM itself (the Dockerfile header says so).
      "--build-arg", "BUILDPLATFORM=linux/amd64",
      ...Object.entries(buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
      "-f", options.dockerfile,
      options.contextDir,
    ],
    options.timeoutMs,
  );
  const budSeconds = (performance.now() - t0) / 1000;
  await store.buildah(["manifest", "push", "--all", "--quiet", list, `oci:${options.layoutDir}`], 300_000);
  const totalSeconds = (performance.now() - t0) / 1000;
  // A fresh list per run: `--manifest` adds to an existing list rather than replacing it.
  await store.buildah(["manifest", "rm", list]).catch(() => undefined);
  return { budSeconds, totalSeconds, platforms: await layoutPlatforms(options.layoutDir) };
}

/** Platforms of the manifests in an OCI layout's (possibly nested) index. */
export async function layoutPlatforms(layoutDir: string): Promise<string[]> {
  type Desc = { digest: string; platform?: { architecture: string; os: string } };
  const out: string[] = [];
  const visit = async (descs: Desc[]): Promise<void> => {
    for (const d of descs) {
      const blob = JSON.parse(await readFile(join(layoutDir, "blobs", ...d.digest.split(":")), "utf8")) as { manifests?: Desc[] };
      if (blob.manifests) await visit(blob.manifests);
      else if (d.platform) out.push(`${d.platform.os}/${d.platform.architecture}`);
    }
  };
  await visit((JSON.parse(await readFile(join(layoutDir, "index.json"), "utf8")) as { manifests: Desc[] }).manifests);
  return out.sort();
}

/** Seconds to build only the Dockerfile's `build` stage for one platform, from scratch (no layer cache). */
export async function budStage(
  store: BuildahStore,
  options: { dockerfile: string; contextDir: string; platform: string; stage: string; timeoutMs: number },
): Promise<number> {
  const t0 = performance.now();
  await store.buildah(
    [
      "bud",
      "--platform", options.platform,
      "--target", options.stage,
      "--pull=never",
      "--isolation", "chroot",
      "--no-cache",
      "--build-arg", "BUILDPLATFORM=linux/amd64",
      "--build-arg", `BUILDER_IMAGE=${BUILDER_IMAGE}`,
      "--build-arg", `RUNTIME_IMAGE=${RUNTIME_IMAGE}`,
      "-f", options.dockerfile,
      options.contextDir,
    ],
    options.timeoutMs,
  );
  return (performance.now() - t0) / 1000;
}
