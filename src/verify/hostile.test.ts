/**
 * Hostile images through the CLI, as an attacker would hand them to `aotpack run` and
 * `aotpack verify`: each image is built here, the host keeps sentinel files that must stay
 * untouched, and no temp rootfs may be left behind (TMPDIR is a directory of our own).
 */
import { test, describe, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { freePort } from "../../test/support/index.ts";
import { chmod, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256 } from "../oci/digest.ts";
import { AMD64, ARM64, compileTodoServer, todoImage, type TarEntrySpec, sandboxWorkDir } from "./testing/images.ts";
import { compileProbe, fileHeader, gzipBomb, tarBytes, writeRawImage } from "./testing/hostile.ts";
import { writeLayout } from "../publish/index.ts";
import type { Platform } from "../oci/platform.ts";

const BIN = fileURLToPath(new URL("../cli/bin.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../../", import.meta.url));

let work: string;
let runTmp: string;
let host: string; // sentinel directory on the host
const probes = new Map<string, string>();

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI; `onLine` may act on output (e.g. send SIGTERM once the app listens). */
function cli(
  args: string[],
  opts: {
    timeoutMs?: number;
    onOutput?: (all: string, child: ReturnType<typeof spawn>) => void;
    onSpawn?: (child: ReturnType<typeof spawn>) => void;
    /** A command prefix, e.g. setpriv to run as another user. */
    wrap?: string[];
  } = {},
): Promise<Cli> {
  return new Promise((resolve) => {
    const argv = [...(opts.wrap ?? []), process.execPath, "--import", "tsx", BIN, ...args];
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: REPO,
      env: { ...process.env, TMPDIR: runTmp, AOTPACK_CACHE_DIR: process.env.AOTPACK_CACHE_DIR ?? join(work, "cache") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    opts.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      opts.onOutput?.(stdout + stderr, child);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      opts.onOutput?.(stdout + stderr, child);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 90_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `aotpack run` until the app listens, then SIGTERM; the app's output is on stdout. */
function runUntilListening(ref: string, platform: Platform, extra: string[] = []): Promise<Cli> {
  let sent = false;
  return cli(["run", ref, "--platform", `linux/${platform.architecture}`, ...extra], {
    onOutput: (all, child) => {
      if (!sent && /PROBE listening|listening on/.test(all)) {
        sent = true;
        child.kill("SIGTERM");
      }
    },
  });
}

async function hostUntouched(): Promise<void> {
  assert.deepEqual((await readdir(host)).sort(), ["victim", "victim-dir"], "no file appeared in the host's sentinel directory");
  const victim = await readFile(join(host, "victim"));
  assert.ok(victim.equals(Buffer.from("untouched")), `the host's victim file was overwritten (${victim.length} bytes now)`);
  const st = await stat(join(host, "victim"));
  assert.equal(st.mode & 0o7777, 0o600, "the victim's mode is unchanged");
  assert.equal(st.nlink, 1, "nothing hardlinked the victim");
  assert.deepEqual(await readdir(join(host, "victim-dir")), []);
}

async function noLeftovers(): Promise<void> {
  // (tsx keeps its own cache in TMPDIR.)
  assert.deepEqual((await readdir(runTmp)).filter((n) => n.startsWith("aotpack-")), [], "no aotpack-run-* directory left behind");
}

/** One line, no stack trace. */
function oneLineError(r: Cli, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit 1: ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => /^(aotpack|error)/.test(l));
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  assert.ok(lines.length >= 1, r.stderr);
}

/** "PROBE status CapEff=0 …" lines as {"status.CapEff": "0", …}. */
function probeFacts(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split("\n")) {
    const x = /PROBE (\S+) (.*)$/.exec(l);
    if (!x?.[1] || x[2] === undefined) continue;
    for (const kv of x[2].split(" ")) {
      const i = kv.indexOf("=");
      if (i > 0) m.set(`${x[1]}.${kv.slice(0, i)}`, kv.slice(i + 1));
    }
  }
  return m;
}

async function hostNs(name: string): Promise<string> {
  return readlink(`/proc/self/ns/${name}`);
}

/** What a root image must see inside the sandbox: no caps, no_new_privs, seccomp, its own namespaces, a shifted uid map. */
async function assertConfined(out: string, what: string): Promise<void> {
  const p = probeFacts(out);
  assert.equal(p.get("status.CapEff"), "0000000000000000", `${what}: no effective capabilities (${out})`);
  assert.equal(p.get("status.NoNewPrivs"), "1", `${what}: no_new_privs`);
  assert.equal(p.get("status.Seccomp"), "2", `${what}: a seccomp filter`);
  for (const ns of ["user", "mnt", "pid", "net", "uts", "ipc"]) assert.notEqual(p.get(`ns.${ns}`), await hostNs(ns), `${what}: own ${ns} namespace`);
  assert.equal(p.get("uid_map.inside"), "0");
  assert.notEqual(p.get("uid_map.outside"), "0", `${what}: image root is not host root`);
  assert.match(p.get("escape.result") ?? "", /^blocked/, `${what}: chroot escape blocked`);
}

function probeTar(binary: Buffer, extra: TarEntrySpec[] = []): Promise<Buffer> {
  return tarBytes([
    { header: { name: "tmp/", type: "directory", mode: 0o1777 } },
    { header: { name: "etc/", type: "directory", mode: 0o755 } },
    { header: { name: "probe", type: "file", mode: 0o755 }, content: binary },
    ...extra,
  ]);
}

function probeConfig(platform: Platform, env: string[] = []) {
  return { Entrypoint: ["/probe"], Env: ["PATH=/bin", "PORT=8080", `HOSTILE_SENTINEL=${join(host, `escaped-${platform.architecture}`)}`, ...env], ExposedPorts: { "8080/tcp": {} } };
}

async function probeImage(name: string, platform: Platform, extra: TarEntrySpec[] = [], env: string[] = []): Promise<string> {
  const bin = await readFile(probes.get(platform.architecture) as string);
  return writeRawImage(join(work, name), "v1", platform, [{ bytes: await probeTar(bin, extra) }], probeConfig(platform, env));
}

before(async () => {
  work = await sandboxWorkDir("aotpack-hostile-");
  runTmp = join(work, "tmp");
  host = join(work, "host");
  await mkdir(runTmp);
  for (const p of [AMD64, ARM64]) probes.set(p.architecture, await compileProbe(p, join(work, "bin")));
});
beforeEach(async () => {
  // Fresh sentinels and an empty TMPDIR: one test's failure must not decide the next one's.
  await rm(host, { recursive: true, force: true });
  await mkdir(join(host, "victim-dir"), { recursive: true });
  await writeFile(join(host, "victim"), "untouched", { mode: 0o600 });
  await rm(runTmp, { recursive: true, force: true });
  await mkdir(runTmp);
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("hostile images through run and verify", { concurrency: false, timeout: 300_000 }, () => {
  for (const platform of [AMD64, ARM64]) {
    test(`${platform.architecture}: a root image cannot escape its chroot and sees no caps, no_new_privs, seccomp, its own namespaces`, async () => {
      const ref = await probeImage(`root-${platform.architecture}`, platform);
      const v = await cli(["verify", ref, "--platform", `linux/${platform.architecture}`, "--json"]);
      const report = JSON.parse(v.stdout) as { ok: boolean; platforms: { isolation?: string; isolationDetail?: string; lastLogLines: string[]; error?: string }[] };
      const p = report.platforms[0];
      await assertConfined((p?.lastLogLines ?? []).join("\n"), `verify ${platform.architecture}`);
      assert.equal(v.code, 0, `verify passes: ${p?.error}`);
      assert.match(p?.isolationDetail ?? "", /userns.*pivot_root.*caps dropped.*no_new_privs/, "the report names the isolation");
      await hostUntouched();
      const r = await runUntilListening(ref, platform);
      await assertConfined(r.stdout, `run ${platform.architecture}`);
      assert.equal(r.code, 0, r.stderr);
      await hostUntouched();
      await noLeftovers();
    });
  }

  test("not root: runc --rootless maps the image's root to the calling user, with the same confinement", async (t) => {
    if (process.getuid?.() !== 0) return t.skip("needs root to become an unprivileged user (setpriv)");
    const ref = await probeImage("rootless", AMD64);
    const tmp = join(work, "nobody-tmp");
    await mkdir(tmp, { mode: 0o777 });
    await chmod(tmp, 0o777);
    const r = await cli(["verify", ref, "--json"], {
      wrap: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", `TMPDIR=${tmp}`, `HOME=${tmp}`, `AOTPACK_CACHE_DIR=${join(tmp, "cache")}`],
    });
    const p = (JSON.parse(r.stdout) as { platforms: { isolation?: string; isolationDetail?: string; lastLogLines: string[]; error?: string }[] }).platforms[0];
    assert.equal(r.code, 0, p?.error ?? r.stderr);
    assert.equal(p?.isolation, "rootless-namespaces");
    assert.match(p?.isolationDetail ?? "", /root → host uid 65534/);
    await assertConfined((p?.lastLogLines ?? []).join("\n"), "rootless verify");
    assert.equal(probeFacts((p?.lastLogLines ?? []).join("\n")).get("uid_map.outside"), "65534");
    await hostUntouched();
    assert.deepEqual((await readdir(tmp)).filter((n) => n.startsWith("aotpack-")), []);
  });

  test("arm64: /.aotpack-qemu/qemu-aarch64-static as a symlink to a host file does not clobber it", async () => {
    const ref = await probeImage("qemu-file-link", ARM64, [
      { header: { name: ".aotpack-qemu/", type: "directory", mode: 0o755 } },
      { header: { name: ".aotpack-qemu/qemu-aarch64-static", type: "symlink", linkname: join(host, "victim") } },
    ]);
    await cli(["verify", ref, "--json"]);
    await hostUntouched();
    await runUntilListening(ref, ARM64);
    await hostUntouched();
    await noLeftovers();
  });

  test("arm64: /.aotpack-qemu as a symlink to a host directory gets nothing written there", async () => {
    const ref = await probeImage("qemu-dir-link", ARM64, [{ header: { name: ".aotpack-qemu", type: "symlink", linkname: join(host, "victim-dir") } }]);
    await cli(["verify", ref, "--json"]);
    await runUntilListening(ref, ARM64);
    await hostUntouched();
    await noLeftovers();
  });

  test("symlink writes, symlinked files, device nodes and FIFOs stay inside the rootfs", async () => {
    const ref = await probeImage("writes", AMD64, [
      { header: { name: "out", type: "symlink", linkname: host } },
      { header: { name: "out/pwned", type: "file" }, content: "pwned" },
      { header: { name: "lnk", type: "symlink", linkname: join(host, "victim") } },
      { header: { name: "lnk", type: "file" }, content: "replaced in the image only" },
      { header: { name: "dev/", type: "directory", mode: 0o755 } },
      { header: { name: "dev/mem-evil", type: "character-device", devmajor: 1, devminor: 1, mode: 0o666 } },
      { header: { name: "sda-evil", type: "block-device", devmajor: 8, devminor: 0, mode: 0o666 } },
      { header: { name: "fifo", type: "fifo" } },
    ]);
    const v = await cli(["verify", ref, "--json"]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stderr, /skipped character-device \/dev\/mem-evil/);
    const r = await runUntilListening(ref, AMD64);
    assert.equal(r.code, 0, r.stderr);
    await hostUntouched();
    await noLeftovers();
  });

  for (const [name, entries] of [
    ["a `..` entry", () => [{ header: { name: "../../../../../../../.." + join(host, "dotdot"), type: "file" }, content: "x" }]],
    ["a hardlink out by `..`", () => [{ header: { name: "hl", type: "link", linkname: "../../../../../../.." + join(host, "victim") } }]],
    ["a hardlink through a symlink to the host", () => [{ header: { name: "d", type: "symlink", linkname: host } }, { header: { name: "hl", type: "link", linkname: "d/victim" } }]],
  ] as [string, () => TarEntrySpec[]][]) {
    test(`${name} is refused with one line, exit 1, --json answering`, async () => {
      const ref = await probeImage(`refuse-${name.replace(/\W+/g, "-")}`, AMD64, entries());
      const v = await cli(["verify", ref, "--json"]);
      assert.equal(v.code, 1);
      assert.equal((JSON.parse(v.stdout) as { ok: boolean }).ok, false);
      oneLineError(await cli(["run", ref]), /outside the image root|escapes the image root|not in the image/);
      await hostUntouched();
      await noLeftovers();
    });
  }

  test("a gzip bomb (10 GiB of zeros in 10 MB) stops at the unpacked-size limit", async () => {
    const bomb = gzipBomb(10 * 1024 ** 3);
    const ref = await writeRawImage(join(work, "bomb"), "v1", AMD64, [{ bytes: bomb, gzip: true, diffId: sha256(Buffer.from("not computed")) }], probeConfig(AMD64));
    const v = await cli(["verify", ref, "--json"], { timeoutMs: 60_000 });
    assert.equal(v.code, 1, v.stderr);
    assert.match((JSON.parse(v.stdout) as { platforms: { error: string }[] }).platforms[0]?.error ?? "", /unpacked size limit \(4 GiB\)/);
    const r = await cli(["run", ref, "--json"], { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.match((JSON.parse(r.stdout) as { error: string }).error, /unpacked size limit \(4 GiB\)/);
    await noLeftovers();
    const small = await cli(["run", ref, "--max-unpacked-size", "64MiB"], { timeoutMs: 60_000 });
    oneLineError(small, /unpacked size limit \(64 MiB\)/);
    await noLeftovers();
  });

  test("a tar header that claims more bytes than the layer holds is one line, exit 1, --json answering", async () => {
    const bin = await readFile(probes.get("amd64") as string);
    const whole = await probeTar(bin);
    const lying = Buffer.concat([whole.subarray(0, whole.length - 1024), fileHeader("liar", 1 << 20), Buffer.alloc(512)]);
    const ref = await writeRawImage(join(work, "liar"), "v1", AMD64, [{ bytes: lying }], probeConfig(AMD64));
    const v = await cli(["verify", ref, "--json"]);
    assert.equal(v.code, 1);
    assert.match((JSON.parse(v.stdout) as { platforms: { error: string }[] }).platforms[0]?.error ?? "", /truncated|malformed/);
    oneLineError(await cli(["run", ref]), /truncated|malformed/);
    const rj = await cli(["run", ref, "--json"]);
    assert.equal(rj.code, 1);
    assert.match((JSON.parse(rj.stdout) as { error: string }).error, /truncated|malformed/);
    await noLeftovers();
  });

  test("a diff_id that does not match the uncompressed layer is refused", async () => {
    const bin = await readFile(probes.get("amd64") as string);
    const ref = await writeRawImage(join(work, "diffid"), "v1", AMD64, [{ bytes: await probeTar(bin), diffId: sha256(Buffer.from("another layer")) }], probeConfig(AMD64));
    const v = await cli(["verify", ref, "--json"]);
    assert.equal(v.code, 1);
    assert.match((JSON.parse(v.stdout) as { platforms: { error: string }[] }).platforms[0]?.error ?? "", /diff_id/);
    oneLineError(await cli(["run", ref]), /diff_id/);
    await noLeftovers();
  });

  test("seccomp is an allow-list: syscalls outside it (kexec_load, open_by_handle_at, bpf, keyctl, io_uring, mempolicy, personality) get EPERM or ENOSYS", async () => {
    const ref = await probeImage("syscalls", AMD64, [], ["PROBE_SYSCALLS=1"]);
    const r = await runUntilListening(ref, AMD64);
    assert.equal(r.code, 0, r.stderr);
    const facts = probeFacts(r.stdout);
    const names = ["kexec_load", "open_by_handle_at", "bpf", "keyctl", "io_uring_setup", "set_mempolicy", "personality"];
    const got = names.map((n) => `${n}=${facts.get(`syscalls.${n}`)}`);
    assert.deepEqual(got.filter((g) => !/=(1|38)$/.test(g)), [], `refused with EPERM (1) or ENOSYS (38): ${got.join(" ")}`);
  });

  test("an app that listens on localhost works (/etc/hosts is provided), without the image's /etc changing", async () => {
    const bin = await compileTodoServer(AMD64, join(work, "todo"));
    const image = await todoImage(bin, AMD64, join(work, "todo-layer"), { env: ["TODO_HOST=localhost"] });
    await writeLayout(join(work, "todo-oci"), image, { tag: "v1" });
    const v = await cli(["verify", `oci:${join(work, "todo-oci")}:v1`, "--http", "GET /todos 200 array", "--json"]);
    const report = JSON.parse(v.stdout) as { platforms: { error?: string; lastLogLines: string[] }[] };
    assert.equal(v.code, 0, `${report.platforms[0]?.error} ${report.platforms[0]?.lastLogLines.join("\n")}`);
    await noLeftovers();
  });
});


/** Host PIDs whose environment holds `mark` (the probe's PROBE_MARK): what is left of an app. */
async function processesMarked(mark: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const env = await readFile(`/proc/${name}/environ`, "latin1").catch(() => "");
    if (env.includes(`PROBE_MARK=${mark}`)) found.push(Number(name));
  }
  return found;
}

describe("stopping: no process and no rootfs left behind", { concurrency: false, timeout: 300_000 }, () => {
  async function untilRunning(mark: string): Promise<void> {
    for (let i = 0; i < 1200 && (await processesMarked(mark)).length === 0; i++) await new Promise((res) => setTimeout(res, 50));
    assert.notDeepEqual(await processesMarked(mark), [], "the app started");
  }

  test("SIGINT to `aotpack verify` while the app runs kills it and removes its rootfs", async () => {
    const mark = `verify-sigint-${process.pid}`;
    const ref = await probeImage("stop-verify", AMD64, [], ["PROBE_NO_LISTEN=1", `PROBE_MARK=${mark}`]);
    let child: ReturnType<typeof spawn> | undefined;
    const done = cli(["verify", ref, "--timeout", "120"], { onSpawn: (c) => (child = c) });
    await untilRunning(mark);
    child?.kill("SIGINT");
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.deepEqual(await processesMarked(mark), []);
    await noLeftovers();
  });

  test("`aotpack run`: an app that ignores SIGTERM is killed by the second SIGTERM", async () => {
    const mark = `run-twice-${process.pid}`;
    const ref = await probeImage("stop-twice", AMD64, [], ["PROBE_IGNORE_TERM=1", `PROBE_MARK=${mark}`]);
    let child: ReturnType<typeof spawn> | undefined;
    const done = cli(["run", ref, "--stop-timeout", "600"], { onSpawn: (c) => (child = c) });
    await untilRunning(mark);
    child?.kill("SIGTERM");
    await new Promise((res) => setTimeout(res, 500));
    assert.notDeepEqual(await processesMarked(mark), [], "the first SIGTERM was forwarded, and ignored by the app");
    child?.kill("SIGTERM");
    const r = await done;
    assert.equal(r.code, 137, r.stderr);
    assert.deepEqual(await processesMarked(mark), []);
    await noLeftovers();
  });

  test("`aotpack run | reader that closes` (EPIPE) kills the app and removes its rootfs; a stale rootfs is removed by the next run", async () => {
    const mark = `run-epipe-${process.pid}`;
    const ref = await probeImage("stop-epipe", AMD64, [], [`PROBE_MARK=${mark}`]);
    // A killed run's leftovers: owner PID that is gone.
    const stale = join(runTmp, "aotpack-run-stale");
    await mkdir(join(stale, "rootfs"), { recursive: true });
    await writeFile(join(stale, "owner"), "999999999 1\n");
    const port = await freePort();
    let closedPipe = false;
    const r = await cli(["run", ref, "-p", `${port}:8080`], {
      onOutput: (all, child) => {
        if (!closedPipe && /PROBE listening/.test(all)) {
          closedPipe = true;
          child.stdout?.destroy(); // the reader goes away
          void fetch(`http://127.0.0.1:${port}/`).catch(() => {}); // the app prints a line: EPIPE
        }
      },
    });
    assert.ok(closedPipe, r.stderr);
    assert.notEqual(r.code, null, "aotpack run exited by itself");
    assert.deepEqual(await processesMarked(mark), []);
    await noLeftovers();
  });
});

interface VerifyJson {
  ok: boolean;
  platforms: { ok: boolean; isolationDetail?: string; lastLogLines: string[]; error?: string; hint?: string }[];
}

/** The host can still start processes and has its memory (nothing of the run is left). */
function hostHealthy(): void {
  const r = spawnSync("sh", ["-c", "echo alive"], { encoding: "utf8" });
  assert.equal(r.stdout.trim(), "alive", "the host can still fork");
}

describe("resource limits: cgroups through runc", { concurrency: false, timeout: 300_000 }, () => {
  test("a fork bomb stops at --pids-limit, verify still passes, the host can still fork", async () => {
    const ref = await probeImage("fork-bomb", AMD64, [], ["PROBE_FORK_BOMB=1"]);
    const v = await cli(["verify", ref, "--pids-limit", "64", "--json"]);
    const p = (JSON.parse(v.stdout) as VerifyJson).platforms[0];
    const facts = probeFacts((p?.lastLogLines ?? []).join("\n"));
    assert.ok(Number(facts.get("forks.count")) < 64, `fork stopped below the limit: ${facts.get("forks.count")} processes`);
    assert.equal(facts.get("forks.errno"), "11", "fork failed with EAGAIN");
    assert.equal(v.code, 0, p?.error);
    assert.match(p?.isolationDetail ?? "", /limits: memory 1 GiB, pids 64/, "the report names the limits (verify's default memory)");
    hostHealthy();
    await noLeftovers();
  });

  test("an app allocating past --memory is OOM-killed: a one-line failure for verify, 137 and a warning for run", async () => {
    const ref = await probeImage("mem-hog", AMD64, [], ["PROBE_ALLOC_MIB=512"]);
    const v = await cli(["verify", ref, "--memory", "64m"]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.match(v.stdout, /\n {2}error: the app was killed by the kernel's OOM killer: it went over the sandbox's 64 MiB memory limit\n/);
    assert.match(v.stdout, /isolation: .*limits: memory 64 MiB, pids 1024/);
    const r = await cli(["run", ref, "--memory", "64m"]);
    assert.equal(r.code, 137, r.stderr);
    assert.match(r.stderr, /warning: the app was killed by the kernel's OOM killer: it went over the sandbox's 64 MiB memory limit/);
    hostHealthy();
    await noLeftovers();
  });

  test("arm64 under qemu-user serves within a 128 MiB limit (qemu reserves address space, the limit is on memory used)", async () => {
    const ref = await probeImage("qemu-mem", ARM64);
    const v = await cli(["verify", ref, "--platform", "linux/arm64", "--memory", "128m", "--cpus", "1", "--json"]);
    const p = (JSON.parse(v.stdout) as VerifyJson).platforms[0];
    assert.equal(v.code, 0, p?.error);
    assert.match(p?.isolationDetail ?? "", /limits: memory 128 MiB, pids 1024, cpus 1/);
    await noLeftovers();
  });

  // .NET's GC sizes its reservation by the limit it sees: without it, 256 GB that qemu-user books page by page (1.6 GB RSS).
  test("the app sees its memory limit in /sys/fs/cgroup (read-only), as runtimes read it to size their heaps", async () => {
    const ref = await probeImage("cgroup-visible", AMD64, [], ["PROBE_CGROUP=1"]);
    const v = await cli(["verify", ref, "--memory", "300m", "--json"]);
    const p = (JSON.parse(v.stdout) as VerifyJson).platforms[0];
    assert.equal(v.code, 0, p?.error);
    assert.equal(probeFacts((p?.lastLogLines ?? []).join("\n")).get("cgroup.memory"), String(300 * 1024 ** 2));
  });

  test("--memory 0 --pids-limit 0 turn verify's limits off, and the report says so", async () => {
    const ref = await probeImage("no-limits", AMD64, [], ["PROBE_ALLOC_MIB=80"]);
    const v = await cli(["verify", ref, "--memory", "0", "--pids-limit", "0", "--json"]);
    const p = (JSON.parse(v.stdout) as VerifyJson).platforms[0];
    assert.equal(v.code, 0, p?.error);
    assert.match(p?.isolationDetail ?? "", /; no resource limits$/);
  });
});
