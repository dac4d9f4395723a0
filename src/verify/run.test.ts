/** Real runs of `runImage`/`startImage` with the Bun-compiled todo-server fixture. */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { get } from "node:http";
import { AotpackError, UsageError } from "../errors.ts";
import { newIndex } from "../oci/mutate.ts";
import type { Image } from "../oci/interfaces.ts";
import { createLayer } from "../oci/layer.ts";
import { userNamespacesAvailable } from "./host.ts";
import { runImage, selectPlatformImage, startImage, type RunningImage } from "./run.ts";
import { verifyImage } from "./verify.ts";
import { resolveUser } from "./user.ts";
import { AMD64, ARM64, compileTodoServer, imageOf, requireTool, runTestWork, todoImage, type TodoImageOptions } from "./testing/images.ts";
import { freePort, unavailable } from "../../test/support/index.ts";

let work: string;
let runDir: string;
let emptyDir: string;
let amd64Binary: string;
let namespaces = false;

before(async () => {
  ({ work, runDir, emptyDir, namespaces, amd64Binary } = await runTestWork("aotpack-run-test-"));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function image(options: TodoImageOptions = {}, binary = amd64Binary, platform = AMD64): Promise<Image> {
  return todoImage(binary, platform, join(work, "blobs"), options);
}

/** GET a path until the app answers (bounded), returning the parsed JSON body. */
async function getJson(port: number, path: string, timeoutMs = 20_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const req = get({ host: "127.0.0.1", port, path, agent: false, timeout: 3000 }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => {
            try {
              resolve(JSON.parse(body));
            } catch (err) {
              reject(err);
            }
          });
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
      });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}


describe("runImage", () => {
  test("returns the app's exit code, with -e overriding the image's Env, and removes the rootfs", async () => {
    const code = await runImage({ image: await image({ env: ["TODO_EXIT_CODE=3"] }), env: ["TODO_EXIT_CODE=5"], tempDir: runDir, forwardSignals: false });
    assert.equal(code, 5);
    assert.deepEqual(await readdir(runDir), []);
  });

  test("forwards SIGTERM it receives to the app and returns its exit code", async () => {
    let servedBeforeSignal: unknown;
    const code = await runImage({
      image: await image(),
      ports: [{ host: 0, container: 8080 }],
      tempDir: runDir,
      onStarted: (running) => {
        void getJson(running.ports[0]?.host as number, "/todos").then((body) => {
          servedBeforeSignal = body;
          process.kill(process.pid, "SIGTERM"); // a real signal to this process: runImage must forward it
        });
      },
    });
    assert.equal(code, 0);
    assert.ok(Array.isArray(servedBeforeSignal));
    assert.deepEqual(await readdir(runDir), []);
  });

  test("isolated: pivot_root into the image (runc), PID 1 of its own namespace, as the image's User, in its WorkingDir", async (t) => {
    if (!namespaces) return t.skip("namespaces need root");
    const running: RunningImage = await startImage({ image: await image({ user: "app", workingDir: "/app" }), ports: [{ host: 0, container: 8080 }], tempDir: runDir });
    try {
      assert.equal(running.isolation, "namespaces");
      const seen = (await getJson(running.ports[0]?.host as number, "/")) as { cwd: string; uid: number; pid: number; root: string[] };
      assert.equal(seen.pid, 1);
      assert.equal(seen.uid, 1000);
      assert.equal(seen.cwd, "/app");
      assert.deepEqual(seen.root, ["app", "dev", "etc", "lib", "lib64", "proc", "sys", "tmp"]);
    } finally {
      await running.close();
    }
    assert.deepEqual(await readdir(runDir), []);
  });

  test("rootless: the same namespaces inside an unprivileged user namespace (forced here even as root)", async (t) => {
    if (!(await userNamespacesAvailable())) return unavailable(t, "user namespaces are not available (CI's kernel allows them)");
    const warnings: string[] = [];
    const running = await startImage({
      image: await image({ user: "app" }),
      isolation: "rootless-namespaces",
      ports: [{ host: 0, container: 8080 }],
      tempDir: runDir,
      onWarning: (m) => warnings.push(m),
    });
    try {
      assert.equal(running.isolation, "rootless-namespaces");
      const seen = (await getJson(running.ports[0]?.host as number, "/")) as { uid: number; pid: number; root: string[] };
      assert.equal(seen.pid, 1);
      assert.equal(seen.uid, 0, "only root is mapped in the user namespace");
      assert.deepEqual(seen.root, ["app", "dev", "etc", "lib", "lib64", "proc", "sys", "tmp"]);
      assert.ok(warnings.some((w) => /runs as root inside it, not as the image's User \(app\)/.test(w)), warnings.join("\n"));
      running.signal("SIGTERM");
      assert.equal((await running.exited).exitCode, 0);
    } finally {
      await running.close();
    }
    assert.deepEqual(await readdir(runDir), []);
  });

  test("two isolated runs can both use port 8080 inside, on different host ports", async (t) => {
    if (!namespaces) return t.skip("namespaces need root");
    const img = await image();
    const a = await startImage({ image: img, ports: [{ host: 0, container: 8080 }], tempDir: runDir });
    try {
      const b = await startImage({ image: img, ports: [{ host: 0, container: 8080 }], tempDir: runDir });
      try {
        assert.notEqual(a.ports[0]?.host, b.ports[0]?.host);
        assert.ok(Array.isArray(await getJson(a.ports[0]?.host as number, "/todos")));
        assert.ok(Array.isArray(await getJson(b.ports[0]?.host as number, "/todos")));
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });

  test("host isolation (no namespaces): native on the host's loopback", async () => {
    const port = await freePort();
    const report = await verifyImage({ image: await image(), isolation: "host", unsafeHostRoot: true, env: { PORT: String(port) }, port, tempDir: runDir, checks: [{ path: "/todos", expectJsonType: "array" }] });
    const p = report.platforms[0];
    assert.equal(p?.ok, true, p?.error);
    assert.equal(p?.isolation, "host");
    assert.deepEqual(await readdir(runDir), []);
  });

  test("host isolation as root refuses the image's root user unless unsafeHostRoot is given", async (t) => {
    if (process.getuid?.() !== 0) return t.skip("only root can be host root");
    await assert.rejects(startImage({ image: await image(), isolation: "host", tempDir: runDir }), /refusing to run the image's root user as root on the host/);
    assert.deepEqual(await readdir(runDir), []);
  });

  test("host isolation under qemu-user with the rootfs as loader prefix (-L)", async (t) => {
    const skip = await requireTool("/usr/bin/qemu-aarch64-static", "qemu-user-static");
    if (skip) return t.skip(skip);
    const arm64Binary = await compileTodoServer(ARM64, join(work, "bin"));
    const port = await freePort();
    const report = await verifyImage({
      image: await image({}, arm64Binary, ARM64),
      isolation: "host",
      unsafeHostRoot: true,
      env: { PORT: String(port) },
      port,
      tempDir: runDir,
      emulation: { binfmtDir: emptyDir },
      checks: [{ path: "/todos/999", expectStatus: 404 }],
    });
    const p = report.platforms[0];
    assert.equal(p?.ok, true, p?.error);
    assert.equal(p?.emulation, "qemu");
    assert.equal(p?.isolation, "host");
  });
});

describe("the root file system, as docker run gives it", () => {
  /** GET / of a run of the todo server that wrote TODO_WRITE_PATH at start: what the write gave. */
  async function writeResult(options: Partial<Parameters<typeof startImage>[0]>, path: string): Promise<string | undefined> {
    const running = await startImage({ image: await image({ user: "app", home: true, env: [`TODO_WRITE_PATH=${path}`] }), ports: [{ host: 0, container: 8080 }], tempDir: runDir, ...options });
    try {
      return ((await getJson(running.ports[0]?.host as number, "/")) as { write?: string }).write;
    } finally {
      await running.close();
    }
  }

  // json-server writes its db.json: Docker's container layer takes that; a read-only root said EROFS.
  test("is writable by default, a throwaway copy: the app writes where its user may, and the next run starts from the image", async (t) => {
    if (!namespaces) return t.skip("namespaces need root");
    assert.equal(await writeResult({}, "/home/app/db.json"), "ok");
    // The file is created with O_EXCL: a run that saw the first run's write would say EEXIST.
    assert.equal(await writeResult({}, "/home/app/db.json"), "ok");
    // Permissions still hold, as in Docker: the image's user may not write root's /app.
    assert.equal(await writeResult({}, "/app/db.json"), "EACCES");
    assert.deepEqual(await readdir(runDir), []);
  });

  test("readOnly (--read-only) asks for the stricter run: the same write fails with EROFS", async (t) => {
    if (!namespaces) return t.skip("namespaces need root");
    assert.equal(await writeResult({ readOnly: true }, "/home/app/db.json"), "EROFS");
    assert.equal(await writeResult({ readOnly: true }, "/tmp/db.json"), "ok", "/tmp is a tmpfs either way");
  });
});

describe("startImage: refusals before anything runs", () => {
  test("an entrypoint that is not in the image", async () => {
    const layer = await createLayer([{ path: "/etc/hostname", type: "file", content: "x\n" }], { compression: "none", blobDir: join(work, "blobs") });
    await assert.rejects(
      startImage({ image: imageOf(AMD64, [layer], { Entrypoint: ["/app/nothing"] }), tempDir: runDir }),
      (err: unknown) => err instanceof AotpackError && err.message === "the entrypoint /app/nothing is not in the image",
    );
    await assert.rejects(startImage({ image: imageOf(AMD64, [layer], { Cmd: ["server"] }), tempDir: runDir }), /the entrypoint server is not on the image's PATH/);
    await assert.rejects(startImage({ image: imageOf(AMD64, [layer]), tempDir: runDir }), /no Entrypoint or Cmd/);
    assert.deepEqual(await readdir(runDir), []);
  });

  test("a platform the index does not have is a usage error listing what it has", async () => {
    const layer = await createLayer([{ path: "/x", type: "file", content: "x" }], { compression: "none", blobDir: join(work, "blobs") });
    const index = newIndex([{ image: imageOf(AMD64, [layer], { Cmd: ["/x"] }) }, { image: imageOf(ARM64, [layer], { Cmd: ["/x"] }) }]);
    await assert.rejects(
      selectPlatformImage(index, { os: "linux", architecture: "riscv64" }),
      (err: unknown) => err instanceof UsageError && err.message === "the image has no linux/riscv64 variant; it has linux/amd64, linux/arm64",
    );
    assert.equal((await selectPlatformImage(index, ARM64)).platform.architecture, "arm64");
    assert.equal((await selectPlatformImage(index)).platform.architecture, "amd64", "the host's platform by default");
  });
});

describe("resolveUser", () => {
  test("names, numbers and groups from the rootfs's /etc/passwd and /etc/group", async () => {
    const root = join(work, "user-root");
    await mkdir(join(root, "etc"), { recursive: true });
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nweb:x:101:102:web:/srv/web:/sbin/nologin\n");
    await writeFile(join(root, "etc/group"), "root:x:0:\nstaff:x:50:\n");
    assert.deepEqual(await resolveUser(root, undefined), { uid: 0, gid: 0, home: "/root" });
    assert.deepEqual(await resolveUser(root, "web"), { uid: 101, gid: 102, home: "/srv/web" });
    assert.deepEqual(await resolveUser(root, "web:staff"), { uid: 101, gid: 50, home: "/srv/web" });
    assert.deepEqual(await resolveUser(root, "65532:65532"), { uid: 65532, gid: 65532, home: "/" });
    assert.deepEqual(await resolveUser(root, "101"), { uid: 101, gid: 102, home: "/srv/web" });
    await assert.rejects(resolveUser(root, "nobody"), /the image's User "nobody" is not in its \/etc\/passwd/);
    await assert.rejects(resolveUser(root, "web:wheel"), /names group "wheel", which is not in its \/etc\/group/);
  });
});

describe("parsePortMapping", () => {
  test("accepts docker's -p forms on the loopback, refuses the rest", async () => {
    const { parsePortMapping } = await import("./run.ts");
    assert.deepEqual(parsePortMapping("8080"), { host: 8080, container: 8080 });
    assert.deepEqual(parsePortMapping("9000:8080"), { host: 9000, container: 8080 });
    assert.deepEqual(parsePortMapping("127.0.0.1:9000:8080/tcp"), { host: 9000, container: 8080 });
    assert.deepEqual(parsePortMapping("0:8080"), { host: 0, container: 8080 });
    for (const bad of ["0.0.0.0:80:80", "80:80/udp", "x", "70000:80", "80:0"]) {
      assert.throws(() => parsePortMapping(bad), (err: unknown) => err instanceof UsageError && err.message.startsWith(`invalid port mapping "${bad}"`));
    }
  });
});
