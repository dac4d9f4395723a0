/**
 * The generated Dockerfile, built for real: `buildah bud --platform linux/amd64,linux/arm64 --manifest`,
 * fully offline. The builder and runtime images are made here from local files (the Bun binaries and
 * glibc from the host and the arm64 cross libc), each platform's image is unpacked with skopeo + umoci,
 * and run: amd64 natively, arm64 under qemu-aarch64-static. Both must answer GET / with the same JSON.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ensureBunRuntime, installedBun } from "../compile/bun-runtime.ts";
import { parsePlatform, parsePlatformList } from "../oci/platform.ts";
import { renderDockerfile, type DockerfilePlan } from "./render.ts";
import { readLayout } from "../oci/layout-source.ts";
import { formatVerifyReport, verifyImage } from "../verify/verify.ts";
import { build } from "../builder/build.ts";
import { ARM64_LIB, freePort, missingTools, QEMU_AARCH64, skipOrFail } from "../../test/support/index.ts";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./testdata/project/", import.meta.url));
const BUILDER = "localhost/aotpack-test-bun-builder:latest";
const RUNTIME = "localhost/aotpack-test-glibc:latest";
const GREETING = 'say "hi" to $USER \\o/';

/** Why this machine cannot run the test, or undefined. */
function missingComponent(): string | undefined {
  const tools = missingTools(["buildah", "skopeo", "umoci", QEMU_AARCH64, "npm", "tar"]);
  if (tools) return tools;
  if (process.getuid?.() !== 0) return "buildah here needs root (no rootless storage configured)";
  if (process.arch !== "x64") return "the test's builder image is made from the host's x86-64 Bun and glibc";
  if (!existsSync(`${ARM64_LIB}/libc.so.6`)) return "libc6-arm64-cross not installed";
  return undefined;
}

const skip = skipOrFail(missingComponent());

let work = "";
let storage: string[] = [];

async function buildah(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run("buildah", [...storage, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`buildah ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** One single-arch image from host files: [source, destination] pairs, symlinks resolved. */
async function makeImage(ref: string, arch: string, files: Array<[string, string]>): Promise<void> {
  const container = await buildah(["from", "--arch", arch, "--os", "linux", "scratch"]);
  try {
    for (const [src, dest] of files) await buildah(["copy", "--quiet", container, realpathSync(src), dest]);
    await buildah(["config", "--arch", arch, "--os", "linux", "--env", "PATH=/usr/local/bin:/bin", container]);
    await buildah(["commit", "--quiet", container, ref]);
  } finally {
    await buildah(["rm", container]);
  }
}

async function makeManifest(ref: string, parts: string[]): Promise<void> {
  await buildah(["manifest", "create", ref]);
  for (const p of parts) await buildah(["manifest", "add", ref, p]);
}

const GLIBC = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "libgcc_s.so.1", "libstdc++.so.6"];

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), "aotpack-df-build-"));
  // A private store: nothing leaks into (or depends on) the machine's images, and cleanup is rm -rf.
  storage = ["--root", join(work, "storage"), "--runroot", join(work, "run"), "--storage-driver", "vfs"];
  // The same Bun binaries `aotpack build` uses: the host one from node_modules, arm64 via npm (verified, cached).
  const bunAmd64 = installedBun().executable;
  const bunArm64 = await ensureBunRuntime(parsePlatform("linux/arm64"));
  const amd64Lib = "/lib/x86_64-linux-gnu";
  const arm64Lib = "/usr/aarch64-linux-gnu/lib";
  const ldAmd64: [string, string] = ["/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"];
  const ldArm64: [string, string] = [`${arm64Lib}/ld-linux-aarch64.so.1`, "/lib/ld-linux-aarch64.so.1"];
  // Builder: bun + /bin/sh for the build platform; only bun for arm64 (that variant is never run).
  await makeImage(`${BUILDER}-amd64`, "amd64", [
    [bunAmd64, "/usr/local/bin/bun"],
    ["/bin/sh", "/bin/sh"],
    ldAmd64,
    ...GLIBC.map((l): [string, string] => [`${amd64Lib}/${l}`, `/lib/x86_64-linux-gnu/${l}`]),
  ]);
  await makeImage(`${BUILDER}-arm64`, "arm64", [[bunArm64, "/usr/local/bin/bun"]]);
  await makeManifest(BUILDER, [`${BUILDER}-amd64`, `${BUILDER}-arm64`]);
  // Runtime: just the glibc a Bun executable needs, like distroless/cc.
  await makeImage(`${RUNTIME}-amd64`, "amd64", [ldAmd64, ...GLIBC.map((l): [string, string] => [`${amd64Lib}/${l}`, `/lib/x86_64-linux-gnu/${l}`])]);
  await makeImage(`${RUNTIME}-arm64`, "arm64", [ldArm64, ...GLIBC.map((l): [string, string] => [`${arm64Lib}/${l}`, `/lib/aarch64-linux-gnu/${l}`])]);
  await makeManifest(RUNTIME, [`${RUNTIME}-amd64`, `${RUNTIME}-arm64`]);
});

after(async () => {
  if (!work) return;
  await buildah(["rm", "--all"]).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

function plan(layout: DockerfilePlan["layout"]): DockerfilePlan {
  return {
    appName: "hello-json",
    entry: "server.js",
    platforms: parsePlatformList("linux/amd64,linux/arm64"),
    runtime: "bun",
    layout,
    port: 8080,
    user: "65532:65532",
    env: { GREETING },
    bunVersion: "1.4.5",
    minify: true,
  };
}

/** Render into a copy of the fixture project, build both platforms into a manifest list, push it to an OCI layout. */
async function buildLayout(layout: DockerfilePlan["layout"]): Promise<string> {
  const project = join(work, `project-${layout}`);
  cpSync(fixture, project, { recursive: true });
  const { dockerfile, dockerignore } = renderDockerfile(plan(layout));
  writeFileSync(join(project, "Dockerfile"), dockerfile);
  writeFileSync(join(project, ".dockerignore"), dockerignore);
  const list = `localhost/aotpack-df-test-${layout}:latest`;
  await buildah(
    [
      "bud",
      "--platform", "linux/amd64,linux/arm64",
      "--manifest", list,
      "--pull=never",
      "--isolation", "chroot",
      "--layers",
      // Debian's buildah 1.28 does not set BUILDPLATFORM itself (the Dockerfile header says so).
      "--build-arg", "BUILDPLATFORM=linux/amd64",
      "--build-arg", `BUILDER_IMAGE=${BUILDER}`,
      "--build-arg", `RUNTIME_IMAGE=${RUNTIME}`,
      "-f", join(project, "Dockerfile"),
      project,
    ],
    600_000,
  );
  const out = join(work, `layout-${layout}`);
  await buildah(["manifest", "push", "--all", "--quiet", list, `oci:${out}`], 300_000);
  return out;
}

interface Unpacked {
  rootfs: string;
  config: { process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } } };
}

function readBlob(layout: string, digest: string): unknown {
  return JSON.parse(readFileSync(join(layout, "blobs", ...digest.split(":")), "utf8"));
}

/** Platforms in the layout's (nested) index, with each platform's layer digests in order. */
function platformsOf(layout: string): Map<string, string[]> {
  type Desc = { digest: string; platform?: { architecture: string; os: string } };
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: Desc[] };
  const out = new Map<string, string[]>();
  const visit = (descs: Desc[]) => {
    for (const d of descs) {
      const blob = readBlob(layout, d.digest) as { manifests?: Desc[]; layers?: Array<{ digest: string }> };
      if (blob.manifests) visit(blob.manifests);
      else if (d.platform) out.set(`${d.platform.os}/${d.platform.architecture}`, (blob.layers ?? []).map((l) => l.digest));
    }
  };
  visit(index.manifests);
  return out;
}

/** Paths in one layer blob (GNU tar detects the compression). */
async function layerPaths(layout: string, digest: string): Promise<string[]> {
  const { stdout } = await run("tar", ["-tf", join(layout, "blobs", ...digest.split(":"))], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout.split("\n").map((p) => p.replace(/^\.?\//, "")).filter(Boolean);
}

async function unpack(layout: string, arch: string): Promise<Unpacked> {
  const single = join(work, `single-${arch}-${Math.random().toString(36).slice(2)}`);
  const bundle = `${single}-bundle`;
  await run("skopeo", ["copy", "--quiet", "--override-os", "linux", "--override-arch", arch, `oci:${layout}`, `oci:${single}:${arch}`], { timeout: 300_000 });
  await run("umoci", ["unpack", "--image", `${single}:${arch}`, bundle], { timeout: 300_000 });
  const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as Unpacked["config"];
  return { rootfs: join(bundle, "rootfs"), config };
}

function elfMachine(path: string): number {
  const header = readFileSync(path).subarray(0, 20);
  assert.equal(header.subarray(0, 4).toString("latin1"), "\x7fELF");
  return header.readUInt16LE(18);
}


/** Start the image's entrypoint with its own ENV (as a runtime would), GET /, stop it. */
async function serve(image: Unpacked, arch: string): Promise<unknown> {
  const port = await freePort();
  const [exe, ...args] = image.config.process.args.map((a) => (a.startsWith("/") ? join(image.rootfs, a) : a));
  assert.ok(exe);
  const env: Record<string, string> = {};
  for (const kv of image.config.process.env) env[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
  Object.assign(env, { PORT: String(port), HOST: "127.0.0.1" });
  const [cmd, argv] = arch === "arm64" ? ["qemu-aarch64-static", ["-L", image.rootfs, exe, ...args]] : [exe, args];
  const child: ChildProcess = spawn(cmd, argv as string[], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  child.once("error", (err) => (stderr += `spawn failed: ${err.message}`));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${arch} server exited with ${child.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /application\/json/);
        return await res.json();
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        if (Date.now() > deadline) throw new Error(`${arch} server did not answer within 60s: ${stderr}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    if (child.exitCode === null && child.pid !== undefined) {
      child.kill("SIGTERM");
      const killTimer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killTimer);
    }
  }
}

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

test("single-file: buildah builds both platforms offline, and each serves the same JSON", { skip, timeout: 900_000 }, async () => {
  const layout = await buildLayout("single-file");
  const platforms = platformsOf(layout);
  assert.deepEqual([...platforms.keys()].sort(), ["linux/amd64", "linux/arm64"]);

  const answers: unknown[] = [];
  for (const [arch, machine] of [["amd64", EM_X86_64], ["arm64", EM_AARCH64]] as const) {
    const image = await unpack(layout, arch);
    assert.deepEqual(image.config.process.args, ["/app/hello-json"]);
    assert.equal(image.config.process.user.uid, 65532);
    assert.equal(image.config.process.cwd, "/app");
    assert.equal(elfMachine(join(image.rootfs, "app", "hello-json")), machine, `${arch} binary has the wrong ELF machine`);
    answers.push(await serve(image, arch));
  }
  assert.deepEqual(answers[0], { hello: "aotpack", greeting: GREETING });
  assert.deepEqual(answers[1], answers[0]);

  // The same buildah images through `aotpack verify` (namespaces, arm64 under qemu-user), and the image
  // `aotpack build` makes from the same project and plan must serve exactly the same JSON.
  const checks = [{ path: "/", expectStatus: 200, expectJsonType: "object" as const, expectBody: JSON.stringify({ hello: "aotpack", greeting: GREETING }) }];
  const fromBuildah = await verifyImage({ image: await (await readLayout(layout)).resolve(), checks });
  assert.ok(fromBuildah.ok, formatVerifyReport(fromBuildah));
  assert.deepEqual(fromBuildah.platforms.map((p) => p.platform).sort(), ["linux/amd64", "linux/arm64"]);
  const built = await build({ projectDir: fixture, entry: "server.js", platforms: parsePlatformList("linux/amd64,linux/arm64"), env: { GREETING }, lockfile: join(work, "aotpack.lock") });
  const fromAotpack = await verifyImage({ image: built.index, checks });
  assert.ok(fromAotpack.ok, formatVerifyReport(fromAotpack));
});

test("layered: runtime and app in separate layers, bun + app.js served on both platforms", { skip, timeout: 900_000 }, async () => {
  const layout = await buildLayout("layered");
  const platforms = platformsOf(layout);
  assert.deepEqual([...platforms.keys()].sort(), ["linux/amd64", "linux/arm64"]);
  for (const [p, layers] of platforms) {
    const contents = await Promise.all(layers.map((d) => layerPaths(layout, d)));
    const runtimeLayer = contents.findIndex((paths) => paths.includes("app/bun"));
    const appLayer = contents.findIndex((paths) => paths.includes("app/app.js"));
    assert.ok(runtimeLayer >= 0 && appLayer > runtimeLayer, `${p}: want the bun layer before the app layer, got ${runtimeLayer}, ${appLayer}`);
    assert.ok(!contents[appLayer]?.includes("app/bun"), `${p}: the app layer also holds the runtime`);
  }

  const answers: unknown[] = [];
  for (const [arch, machine] of [["amd64", EM_X86_64], ["arm64", EM_AARCH64]] as const) {
    const image = await unpack(layout, arch);
    assert.deepEqual(image.config.process.args, ["/app/bun", "/app/app.js"]);
    assert.equal(elfMachine(join(image.rootfs, "app", "bun")), machine);
    assert.ok(existsSync(join(image.rootfs, "app", "app.js")));
    answers.push(await serve(image, arch));
  }
  assert.deepEqual(answers[0], { hello: "aotpack", greeting: GREETING });
  assert.deepEqual(answers[1], answers[0]);
});
