/** diagnoseEntrypoint on hand-made rootfs trees with the host's real /usr/bin/true and glibc. */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, realpath, rm, symlink, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AotpackError } from "../errors.ts";
import { diagnoseEntrypoint, librarySearchDirs } from "./diagnose.ts";
import { AMD64, ARM64 } from "./testing/images.ts";

const LIBDIR = "/lib/x86_64-linux-gnu";
let work: string;
let skip: string | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "aotpack-diagnose-test-"));
  if (process.arch !== "x64") skip = "uses the host's x86_64 /usr/bin/true";
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function put(root: string, path: string, hostSource: string): Promise<void> {
  await mkdir(join(root, path, ".."), { recursive: true });
  await copyFile(await realpath(hostSource), join(root, path));
  await chmod(join(root, path), 0o755);
}

test("merged /usr with absolute symlinks: everything is resolved inside the rootfs", async (t) => {
  if (skip) return t.skip(skip);
  const root = join(work, "merged");
  await put(root, "/usr/bin/true", "/usr/bin/true");
  // The loader sits where the host has nothing, behind an absolute symlink through the /lib → usr/lib symlink:
  // following links on the host instead of inside the root would not find it.
  await put(root, "/usr/lib/x86_64-linux-gnu/aotpack-test/ld.so", "/lib64/ld-linux-x86-64.so.2");
  await put(root, "/usr/lib/x86_64-linux-gnu/libc.so.6", `${LIBDIR}/libc.so.6`);
  await symlink("usr/lib", join(root, "lib"));
  await mkdir(join(root, "usr/lib64"), { recursive: true });
  await symlink("usr/lib64", join(root, "lib64"));
  await symlink("/lib/x86_64-linux-gnu/aotpack-test/ld.so", join(root, "usr/lib64/ld-linux-x86-64.so.2"));
  const facts = await diagnoseEntrypoint(root, "true", AMD64, { pathVar: "/usr/local/bin:/usr/bin" });
  assert.equal(facts.imagePath, "/usr/bin/true");
  assert.equal(facts.elf?.machine, "x86_64");
  assert.ok(facts.elf?.needed.includes("libc.so.6"));
});

test("a library symlink pointing at a path only the host has counts as missing", async (t) => {
  if (skip) return t.skip(skip);
  const root = join(work, "hostlink");
  await put(root, "/bin/true", "/usr/bin/true");
  await put(root, "/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2");
  await mkdir(join(root, LIBDIR), { recursive: true });
  await symlink("/usr/lib/x86_64-linux-gnu/libc.so.6", join(root, LIBDIR, "libc.so.6")); // exists on the host only
  await assert.rejects(
    diagnoseEntrypoint(root, "/bin/true", AMD64),
    (err: unknown) => err instanceof AotpackError && /^the library libc\.so\.6 \(needed by \/bin\/true\) is missing from the image/.test(err.message),
  );
});

test("an x86_64 binary in a linux/arm64 image", async (t) => {
  if (skip) return t.skip(skip);
  const root = join(work, "wrongarch");
  await put(root, "/app/server", "/usr/bin/true");
  await assert.rejects(
    diagnoseEntrypoint(root, "/app/server", ARM64),
    (err: unknown) => err instanceof AotpackError && err.message === "/app/server is x86_64 but the image platform is linux/arm64",
  );
});

test("scripts need their #! interpreter in the image; other files are not executables", async () => {
  const root = join(work, "script");
  await mkdir(join(root, "app"), { recursive: true });
  await writeFile(join(root, "app/run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await assert.rejects(diagnoseEntrypoint(root, "/app/run.sh", AMD64), /the script \/app\/run\.sh starts with #!\/bin\/sh, which is not in the image/);
  await writeFile(join(root, "app/data"), "hello", { mode: 0o755 });
  await assert.rejects(diagnoseEntrypoint(root, "/app/data", AMD64), /neither an ELF executable nor a #! script/);
  await writeFile(join(root, "app/noexec"), "hello", { mode: 0o644 });
  await assert.rejects(diagnoseEntrypoint(root, "/app/noexec", AMD64), /the entrypoint \/app\/noexec is not executable \(mode 644\)/);
  await assert.rejects(diagnoseEntrypoint(root, "./data2", AMD64, { workingDir: "/app" }), /the entrypoint \/app\/data2 is not in the image/);
});

test("library search dirs: ld.so.conf (with includes) first, then multiarch and the defaults", async () => {
  const root = join(work, "ldconf");
  await mkdir(join(root, "etc/ld.so.conf.d"), { recursive: true });
  await writeFile(join(root, "etc/ld.so.conf"), "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/opt/extra/lib\n");
  await writeFile(join(root, "etc/ld.so.conf.d/x86_64-linux-gnu.conf"), "/usr/local/lib/x86_64-linux-gnu\n");
  await writeFile(join(root, "etc/ld.so.conf.d/ignored.txt"), "/nope\n");
  const dirs = await librarySearchDirs(root, "x86_64");
  assert.deepEqual(dirs.slice(0, 4), ["/usr/local/lib/x86_64-linux-gnu", "/opt/extra/lib", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]);
  assert.ok(dirs.includes("/lib64") && !dirs.includes("/nope"));
});
