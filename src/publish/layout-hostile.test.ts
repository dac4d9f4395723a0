/** Issue 16: an output layout heals instead of keeping bad state, and concurrent writers all succeed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../../test/support/tools.ts";
import { AotpackError } from "../errors.ts";
import { readLayout } from "../oci/layout-source.ts";
import { buildHelloIndex } from "../oci/testing/fixtures.ts";
import { validate } from "../oci/validate.ts";
import { layoutPublisher } from "./layout.ts";

const CHILD = new URL("./testing/publish-child.ts", import.meta.url).pathname;

function child(args: string[]): { exit: Promise<{ code: number | null; stderr: string }>; pid: number; kill(): void } {
  const p = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return {
    pid: p.pid!,
    exit: new Promise((r) => p.on("close", (code) => r({ code, stderr }))),
    kill: () => p.kill("SIGKILL"),
  };
}

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).map(String);
}

test("a corrupt blob of the right size already in the output is replaced, not kept", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "work"));
  const { index, amd64 } = await buildHelloIndex(join(dir, "work"), { sourceDateEpoch: 0 });
  const out = join(dir, "layout");
  const layerDigest = await (await amd64.layers())[0]!.digest();
  const blob = join(out, "blobs", "sha256", layerDigest.slice(7));
  // An earlier output holds the layer, with one byte changed.
  await layoutPublisher(out).publish(amd64, { tag: "old" });
  const bytes = await readFile(blob);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  await writeFile(blob, bytes);
  await layoutPublisher(out).publish(index, { tag: "v1" });
  await validate(await (await readLayout(out)).resolve("v1"));
});

test("a fresh layout whose first writer was killed mid-blob is written by the next build", async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, "layout");
  const killed = child([out, "v1", String(8 * 1024 * 1024), "slow"]);
  // Wait until it is writing a blob, then kill it.
  for (let i = 0; i < 600; i++) {
    const files = [...(await allFiles(out)), ...(await allFiles(dir))];
    if (files.some((f) => f.includes(".tmp-"))) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  killed.kill();
  await killed.exit;
  const next = await child([out, "v1", "100000"]).exit;
  assert.equal(next.code, 0, next.stderr);
  await validate(await (await readLayout(out)).resolve("v1"), { scanLayers: true });
  const left = (await allFiles(dir)).filter((f) => f.includes(".tmp-"));
  assert.deepEqual(left, [], "the killed writer's temp files are gone");
});

test("temp files left by dead writers are removed from an existing layout", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "work"));
  const { index } = await buildHelloIndex(join(dir, "work"), { sourceDateEpoch: 0 });
  const out = join(dir, "layout");
  await layoutPublisher(out).publish(index, { tag: "v1" });
  // A pid that is certainly not running (beyond pid_max); one of ours must survive.
  const dead = join(out, "blobs", "sha256", `.abc.tmp-99999999-deadbeef`);
  const deadIndex = join(out, `.index.json.tmp-99999999-cafe`);
  await writeFile(dead, Buffer.alloc(1024));
  await writeFile(deadIndex, "{}");
  await layoutPublisher(out).publish(index, { tag: "v2" });
  await assert.rejects(stat(dead));
  await assert.rejects(stat(deadIndex));
});

test("4 concurrent processes creating the same fresh layout all succeed and the layout validates", async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, "layout");
  await mkdir(dir, { recursive: true });
  const runs = [0, 1, 2, 3].map((i) => child([out, `t${i}`, String(200_000 + i)]));
  const results = await Promise.all(runs.map((r) => r.exit));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const layout = await readLayout(out);
  assert.deepEqual((await layout.tags()).sort(), ["t0", "t1", "t2", "t3"]);
  for (const tag of ["t0", "t1", "t2", "t3"]) await validate(await layout.resolve(tag), { scanLayers: true });
});

test("a file-backed layer is copied by the kernel, and a changed source file is refused, not shipped", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "work"));
  const { amd64 } = await buildHelloIndex(join(dir, "work"), { sourceDateEpoch: 0 });
  const layer = (await amd64.layers())[0]!;
  const source = await layer.blobFile!();
  assert.ok(source, "a built layer names its blob file");
  // The kernel copy path: the output holds exactly the layer's bytes.
  const good = join(dir, "good");
  await layoutPublisher(good).publish(amd64, { tag: "x" });
  assert.deepEqual(await readFile(join(good, "blobs", "sha256", (await layer.digest()).slice(7))), await readFile(source!));
  // The same size, one byte changed after the layer was made: the copy is hashed and refused.
  const bytes = await readFile(source!);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  await writeFile(source!, bytes);
  const bad = join(dir, "bad");
  await assert.rejects(layoutPublisher(bad).publish(amd64, { tag: "x" }), /not what the manifest names|digest/);
  const hex = (await layer.digest()).slice(7);
  const left = (await allFiles(join(bad, "blobs", "sha256"))).filter((f) => f.includes(hex.slice(0, 12)) || f.includes(".tmp-"));
  assert.deepEqual(left, [], "no blob (or temp file) of the tampered layer is left in the output");
});

/** Every file under dir with its bytes, for "untouched" checks. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await allFiles(dir)).sort()) {
    const st = await lstat(join(dir, f));
    out[f] = st.isFile() ? (await readFile(join(dir, f))).toString("hex").slice(0, 64) + `:${st.size}` : st.isDirectory() ? "dir" : "other";
  }
  return out;
}

function symlinkRefused(path: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof AotpackError, String(e));
    assert.doesNotMatch(e.message, /\n/);
    assert.equal(e.message, `output path ${path} is a symbolic link; refusing to follow it out of the layout`);
    return true;
  };
}

test("issue 33: a symlink in an existing output layout (blobs, blobs/sha256, index.json, oci-layout, a blob, the lock) is refused and nothing is written through it", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "work"));
  const { index, amd64 } = await buildHelloIndex(join(dir, "work"), { sourceDateEpoch: 0 });
  const layerHex = (await (await amd64.layers())[0]!.digest()).slice(7);
  const cases: [string, (out: string, elsewhere: string) => Promise<void>][] = [
    // blobs/sha256 moved elsewhere and linked back: its blobs would be written there.
    ["blobs/sha256", async (out, elsewhere) => {
      await rename(join(out, "blobs", "sha256"), join(elsewhere, "sha256"));
      await rm(join(elsewhere, "sha256", layerHex));
      await symlink(join(elsewhere, "sha256"), join(out, "blobs", "sha256"));
    }],
    ["blobs", async (out, elsewhere) => {
      await rename(join(out, "blobs"), join(elsewhere, "blobs"));
      await rm(join(elsewhere, "blobs", "sha256", layerHex));
      await symlink(join(elsewhere, "blobs"), join(out, "blobs"));
    }],
    ["index.json", async (out, elsewhere) => {
      await rename(join(out, "index.json"), join(elsewhere, "index.json"));
      await symlink(join(elsewhere, "index.json"), join(out, "index.json"));
    }],
    ["oci-layout", async (out, elsewhere) => {
      await rename(join(out, "oci-layout"), join(elsewhere, "oci-layout"));
      await symlink(join(elsewhere, "oci-layout"), join(out, "oci-layout"));
    }],
    [`blobs/sha256/${layerHex}`, async (out, elsewhere) => {
      await writeFile(join(elsewhere, "victim"), "someone else's file");
      await rm(join(out, "blobs", "sha256", layerHex));
      await symlink(join(elsewhere, "victim"), join(out, "blobs", "sha256", layerHex));
    }],
    [".aotpack-index.lock", async (out, elsewhere) => {
      await writeFile(join(elsewhere, "victim"), "someone else's file");
      await symlink(join(elsewhere, "victim"), join(out, ".aotpack-index.lock"));
    }],
  ];
  for (const [name, plant] of cases) {
    const out = join(dir, `layout-${name.replace(/[/.]/g, "_")}`);
    const elsewhere = join(dir, `elsewhere-${name.replace(/[/.]/g, "_")}`);
    await mkdir(elsewhere);
    await layoutPublisher(out).publish(amd64, { tag: "old" });
    await plant(out, elsewhere);
    const before = await snapshot(elsewhere);
    await assert.rejects(layoutPublisher(out).publish(index, { tag: "v1" }), symlinkRefused(join(out, name)), name);
    assert.deepEqual(await snapshot(elsewhere), before, `${name}: nothing written through the link`);
  }
  // A half-written layout (no oci-layout yet) whose blobs is a link is refused too.
  const half = join(dir, "half");
  const elsewhere = join(dir, "elsewhere-half");
  await mkdir(half);
  await mkdir(join(elsewhere, "blobs"), { recursive: true });
  await symlink(join(elsewhere, "blobs"), join(half, "blobs"));
  await assert.rejects(layoutPublisher(half).publish(index, { tag: "v1" }), symlinkRefused(join(half, "blobs")));
  assert.deepEqual(await allFiles(elsewhere), ["blobs"]);
});
