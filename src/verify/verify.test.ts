/**
 * Real runs: the Bun-compiled todo-server fixture in images with the host's glibc, verified
 * natively (linux/amd64) and under qemu-user (linux/arm64), plus broken images that must each
 * fail with their named diagnosis.
 */
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { newIndex } from "../oci/mutate.ts";
import type { Image } from "../oci/interfaces.ts";
import { formatVerifyReport, judge, parseHttpCheck, verifyImage, type HttpCheck, type PlatformReport, type VerifyOptions } from "./verify.ts";
import { BINFMT_DIR, readBinfmtEntry, removeBinfmtEntry, setupBinfmt } from "./binfmt.ts";
import { AMD64, ARM64, compileTodoServer, requireTool, runTestWork, todoImage, type TodoImageOptions } from "./testing/images.ts";
import { inCI, requireRoot } from "../../test/support/index.ts";

const TODO_CHECKS: HttpCheck[] = [
  { path: "/todos", expectStatus: 200, expectContentType: "application/json", expectJsonType: "array" },
  { path: "/todos/1", expectStatus: 200, expectJsonType: "object", expectBody: '"title":"write the verifier"' },
  { path: "/todos/999", expectStatus: 404, expectJsonType: "object" },
];

let work: string;
let runDir: string;
let amd64Binary: string;
let arm64Binary: string | undefined;
let arm64Skip: string | undefined;
let namespaces = false;
/** An empty directory: as a binfmt_misc mount point it hides any registration; as PATH it holds no qemu. */
let emptyDir: string;

before(async () => {
  ({ work, runDir, emptyDir, namespaces, amd64Binary } = await runTestWork("aotpack-verify-test-"));
  arm64Skip = await requireTool("/usr/bin/qemu-aarch64-static", "qemu-user-static");
  if (!arm64Skip) {
    try {
      arm64Binary = await compileTodoServer(ARM64, join(work, "bin"));
    } catch (err) {
      if (inCI()) throw err;
      arm64Skip = `cannot compile for arm64 (the Bun runtime comes from the npm registry): ${String(err)}`;
    }
  }
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function image(binary: string, platform = AMD64, options: TodoImageOptions = {}): Promise<Image> {
  return todoImage(binary, platform, join(work, "blobs"), options);
}

async function verifyOne(img: Image, options: Partial<VerifyOptions> = {}): Promise<PlatformReport> {
  const report = await verifyImage({ image: img, tempDir: runDir, ...options });
  assert.equal(report.platforms.length, 1);
  // Whatever happened, the unpacked rootfs is gone.
  assert.deepEqual(await readdir(runDir), []);
  return report.platforms[0] as PlatformReport;
}

describe("verifyImage: working images", () => {
  test("linux/amd64 natively and linux/arm64 under qemu-user: JSON, 404, clean SIGTERM stop", async (t) => {
    const entries = [{ image: await image(amd64Binary, AMD64, { user: "app" }) }];
    if (arm64Binary) entries.push({ image: await image(arm64Binary, ARM64) });
    else t.diagnostic(`arm64 left out: ${arm64Skip}`);
    // An empty binfmt dir forces the explicit-qemu path even where binfmt_misc is registered.
    const report = await verifyImage({ image: newIndex(entries), checks: [...TODO_CHECKS, { path: "/", expectBody: '"cwd":"/app"' }], tempDir: runDir, emulation: { binfmtDir: emptyDir } });
    const table = formatVerifyReport(report);
    assert.equal(report.ok, true, table);
    assert.equal(report.platforms.length, entries.length);
    for (const p of report.platforms) {
      assert.equal(p.checks.length, 4);
      assert.ok(p.checks.every((c) => c.ok));
      assert.ok((p.startupMs ?? -1) >= 0);
      assert.ok((p.rssKiB ?? 0) > 1024, "an app's RSS is more than 1 MiB");
      assert.ok((p.peakRssKiB ?? 0) >= (p.rssKiB ?? 0));
      assert.equal(p.exitCode, 0);
      assert.ok(p.stopMs !== undefined);
      assert.equal(p.isolation, namespaces ? "namespaces" : "host");
    }
    const [amd, arm] = report.platforms;
    assert.equal(amd?.platform, "linux/amd64");
    assert.equal(amd?.emulated, false);
    if (namespaces) assert.equal(amd?.checks[3]?.ok, true); // WorkingDir honoured in the chroot
    if (arm) {
      assert.equal(arm.platform, "linux/arm64");
      assert.equal(arm.emulation, "qemu");
      assert.match(table, /RSS after checks \(KiB\) \[qemu's, guest included\]/);
    }
    assert.match(table, /startup to first good response \(ms\)/);
    assert.match(table, /stop after SIGTERM \(ms\)/);
    assert.match(table, /verify: all platforms passed/);
  });

  test("linux/arm64 through binfmt_misc with the F flag (aotpack setup-binfmt)", async (t) => {
    if (!arm64Binary) return t.skip(arm64Skip);
    if (!requireRoot(t, "aotpack setup-binfmt")) return;
    const hadEntry = await readBinfmtEntry("aarch64");
    const result = await setupBinfmt();
    try {
      assert.equal((await setupBinfmt()).status, "already", "setupBinfmt is idempotent");
      const entry = await readBinfmtEntry("aarch64");
      assert.ok(entry?.enabled && entry.flags.includes("F"), `registered with F: ${JSON.stringify(entry)}`);
      const p = await verifyOne(await image(arm64Binary, ARM64), { checks: TODO_CHECKS });
      assert.equal(p.ok, true, p.error);
      assert.equal(p.emulation, "binfmt");
      assert.equal(p.emulated, true);
    } finally {
      // Leave the host's binfmt_misc as we found it.
      if (result.status === "registered" && !hadEntry) await removeBinfmtEntry("aarch64");
      if (result.mounted) await promisify(execFile)("umount", [BINFMT_DIR]);
    }
  });
});

describe("verifyImage: readiness", () => {
  test("503s while warming up are waited out; startup counts to the first good response", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_NOT_READY=3"] }), { checks: TODO_CHECKS });
    assert.equal(p.ok, true, p.error);
    assert.ok(p.startupMs !== undefined);
  });

  test("judge: status, content type, JSON kind and body", () => {
    const res = { status: 200, contentType: "application/json; charset=utf-8", body: '{"a":1}' };
    assert.equal(judge({ path: "/", expectContentType: "application/json", expectJsonType: "object", expectBody: '"a":1' }, res).ok, true);
    assert.equal(judge({ path: "/", expectJsonType: "array" }, res).detail, "body is object, expected a JSON array");
    assert.equal(judge({ path: "/", expectContentType: "text/html" }, res).detail, 'content-type "application/json; charset=utf-8", expected text/html');
    assert.equal(judge({ path: "/", expectJsonType: "object" }, { ...res, body: "<html>" }).detail, "body is not JSON, expected a JSON object");
    assert.equal(judge({ path: "/x", method: "post", expectStatus: 201 }, res).check, "POST /x → 201");
  });

  test("parseHttpCheck reads --http values", () => {
    assert.deepEqual(parseHttpCheck("GET /todos"), { method: "GET", path: "/todos" });
    assert.deepEqual(parseHttpCheck("/"), { method: "GET", path: "/" });
    assert.deepEqual(parseHttpCheck("delete /todos/1?x=1"), { method: "DELETE", path: "/todos/1?x=1" });
    assert.throws(() => parseHttpCheck("GET todos"), /invalid HTTP check "GET todos"/);
    assert.deepEqual(parseHttpCheck("GET /todos 200 array"), { method: "GET", path: "/todos", expectStatus: 200, expectJsonType: "array" });
    assert.deepEqual(parseHttpCheck("/todos/9 404"), { method: "GET", path: "/todos/9", expectStatus: 404 });
    assert.throws(() => parseHttpCheck("GET /todos 2000"), /unknown expectation "2000"/);
  });
});

describe("verifyImage: request bodies and headers", () => {
  // tRPC, json-server, Nest: the interesting route is a POST with a JSON body, often behind a token.
  test("a POST check sends its JSON body and headers; the next check sees what it created", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_TOKEN=t0k"] }), {
      checks: [
        { method: "POST", path: "/todos", body: { title: "sent by verify" }, headers: { Authorization: "Bearer t0k" }, expectStatus: 201, expectJsonType: "object", expectBody: '"title":"sent by verify"' },
        { path: "/todos", expectBody: "sent by verify" },
        { method: "POST", path: "/todos", body: '{"title":"text"}', expectStatus: 401 },
      ],
    });
    assert.equal(p.ok, true, `${p.error} ${JSON.stringify(p.checks)}`);
    assert.match(p.checks[0]?.check ?? "", /^POST \/todos \(body 26 B\) → 201, JSON object/);
  });
});

describe("verifyImage: fails fast, says what it waits for", () => {
  // Elysia's `app.listen(3000)`: the image says 8080, nothing answers there; 30 s of silence before.
  test("an app that logs it listens on another port fails at once, naming that port", { timeout: 120_000 }, async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_LISTEN_PORT=3000"] }), { timeoutMs: 600_000 });
    assert.equal(p.ok, false);
    assert.match(p.error ?? "", /^the app says it listens on port 3000 \("todo-server listening on 0\.0\.0\.0:3000"\), but nothing answers on port 8080, the image's port/);
    assert.match(p.hint ?? "", /--port 3000/);
    assert.match(p.hint ?? "", /PORT/);
  });

  // json-server's home page answered 500 on every request: 30 s per platform, then "status 500".
  test("a 5xx first answer is said at once, and one that lasts fails in seconds, not after the whole timeout", { timeout: 120_000 }, async () => {
    const progress: string[] = [];
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_NOT_READY=1000000"] }), { timeoutMs: 600_000, checks: TODO_CHECKS, onProgress: (m) => progress.push(m) });
    assert.equal(p.ok, false);
    assert.ok(progress.some((m) => /^linux\/amd64: GET \/todos answered 503 \{"error":"warming up"\}: not ready yet\? waiting up to 5 s for a good answer/.test(m)), progress.join("\n"));
    assert.match(p.error ?? "", /^check failed: GET \/todos → 200, .*: status 503, expected 200.* \(it kept answering 503 for 5 s\)$/);
  });

  // A Bun crash ends with stack frames and "Bun v1.x (Linux x64)": the message is above the last 10 lines.
  test("an app that crashes is reported with its error message, not only its last lines", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_CRASH=1"] }), { timeoutMs: 20_000 });
    assert.equal(p.ok, false);
    assert.match(p.error ?? "", /^the app exited with code 1 before it answered on port 8080: error: Could not find module root for the app: unable to determine transport target$/);
    assert.ok(!p.lastLogLines.some((l) => /Could not find module root/.test(l)), "the message is not among the last 10 lines: that is why it is picked out");
    assert.match(formatVerifyReport({ ok: false, platforms: [p] }), /error: the app exited with code 1 .*: error: Could not find module root/);
  });
});

describe("verifyImage: an init as PID 1 (aotpack's default on deb: bases)", () => {
  // No handler: the default action ends the app (it is PID 2). Nest's enableShutdownHooks: close, then re-raise SIGTERM.
  for (const [what, env] of [["an app with no SIGTERM handler", "TODO_IGNORE_SIGTERM=1"], ["Nest's enableShutdownHooks (close, then re-raise SIGTERM)", "TODO_SHUTDOWN_HOOKS=1"]] as const) {
    test(`${what} stops under tini, exit 143; RSS is the app's, not tini's`, async (t) => {
      if (!namespaces) return t.skip("needs a PID namespace (root)");
      const tini = await requireTool("/usr/bin/tini", "tini");
      if (tini) return t.skip(tini);
      const p = await verifyOne(await image(amd64Binary, AMD64, { init: "/usr/bin/tini", env: [env] }), { checks: TODO_CHECKS });
      assert.equal(p.ok, true, `${p.error}\n${p.lastLogLines.join("\n")}`);
      assert.equal(p.exitCode, 143, "tini passes on how the app ended: killed by SIGTERM's default action");
      assert.ok((p.rssKiB ?? 0) > 10 * 1024, `the Bun app's RSS, not tini's: ${p.rssKiB} KiB`);
    });
  }

  test("without a PID namespace (--isolation host) the init is left out and the app runs itself", async () => {
    const tini = await requireTool("/usr/bin/tini", "tini");
    if (tini) return;
    const { freePort } = await import("../../test/support/index.ts");
    const port = await freePort();
    const p = await verifyOne(await image(amd64Binary, AMD64, { init: "/usr/bin/tini" }), { isolation: "host", unsafeHostRoot: true, env: { PORT: String(port) }, port, checks: TODO_CHECKS });
    assert.equal(p.ok, true, `${p.error}\n${p.lastLogLines.join("\n")}`);
    assert.equal(p.exitCode, 0);
  });
});

describe("verifyImage: broken images get their named diagnosis", () => {
  test("wrong architecture: an aarch64 binary in a linux/amd64 image", async (t) => {
    if (!arm64Binary) return t.skip(arm64Skip);
    const p = await verifyOne(await image(arm64Binary, ARM64, { declaredPlatform: AMD64 }));
    assert.equal(p.ok, false);
    assert.equal(p.error, "/app/server is aarch64 but the image platform is linux/amd64");
  });

  test("missing loader: the ELF interpreter is not in the image", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { omitLoader: true }));
    assert.equal(p.ok, false);
    assert.equal(p.error, "the ELF interpreter /lib64/ld-linux-x86-64.so.2 (needed by /app/server) is missing from the image");
    assert.match(p.hint ?? "", /C library/);
  });

  test("missing loader for arm64: /lib/ld-linux-aarch64.so.1", async (t) => {
    if (!arm64Binary) return t.skip(arm64Skip);
    const p = await verifyOne(await image(arm64Binary, ARM64, { omitLoader: true }), { emulation: { binfmtDir: emptyDir } });
    assert.equal(p.error, "the ELF interpreter /lib/ld-linux-aarch64.so.1 (needed by /app/server) is missing from the image");
  });

  test("missing library: a NEEDED library is not in the image", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { omitLibraries: ["libm.so.6"] }));
    assert.equal(p.ok, false);
    assert.match(p.error ?? "", /^the library libm\.so\.6 \(needed by \/app\/server\) is missing from the image; searched .*\/lib\/x86_64-linux-gnu/);
  });

  test("qemu not installed: names the package", async (t) => {
    if (!arm64Binary) return t.skip(arm64Skip);
    const p = await verifyOne(await image(arm64Binary, ARM64), { emulation: { binfmtDir: emptyDir, searchPath: emptyDir } });
    assert.equal(p.ok, false);
    assert.match(p.error ?? "", /^running linux\/arm64 on this x86_64 host needs qemu-user \(qemu-aarch64-static\), which is not installed$/);
    assert.match(p.hint ?? "", /install qemu-user-static/);
  });

  test("an app that ignores SIGTERM as PID 1 fails, with advice", async (t) => {
    if (!namespaces) return t.skip("needs a PID namespace (root): outside one, SIGTERM's default action kills the app");
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_IGNORE_SIGTERM=1"] }), { checks: TODO_CHECKS, stopGraceMs: 1500 });
    assert.equal(p.ok, false);
    assert.ok(p.checks.every((c) => c.ok), "it serves fine; only the stop fails");
    assert.equal(p.error, "the app did not exit within 1.5 s of SIGTERM");
    assert.match(p.hint ?? "", /PID 1/);
    assert.match(p.hint ?? "", /process\.on\("SIGTERM"/);
    assert.match(p.hint ?? "", /tini/);
  });

  // Fastify's `await app.listen(); process.on("SIGTERM", …)` serves before its handler exists
  // (under qemu-user for ~0.1 s): a SIGTERM sent right after the checks reached PID 1 without one.
  test("an app whose SIGTERM handler comes after it serves is sent SIGTERM once the handler is there", async (t) => {
    if (!namespaces) return t.skip("needs a PID namespace (root): outside one, SIGTERM's default action kills the app");
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_SIGTERM_AFTER_MS=1000"] }), { checks: TODO_CHECKS, stopGraceMs: 1500 });
    assert.equal(p.ok, true, `${p.error}\n${p.lastLogLines.join("\n")}`);
    assert.equal(p.exitCode, 0);
  });

  test("under qemu-user, SIGTERM before the app has a handler is named at once (qemu-user as PID 1 then hangs)", async (t) => {
    if (!namespaces) return t.skip("needs a PID namespace (root)");
    if (!arm64Binary) return t.skip(arm64Skip);
    const img = await image(arm64Binary, ARM64, { env: ["TODO_SIGTERM_AFTER_MS=600000"] });
    const p = await verifyOne(img, { checks: TODO_CHECKS, stopGraceMs: 20_000, emulation: { binfmtDir: emptyDir } });
    assert.equal(p.ok, false);
    assert.ok(p.checks.every((c) => c.ok), "it serves fine; only the stop fails");
    assert.match(p.error ?? "", /^SIGTERM's default action came to PID 1 under qemu-user \(the app had no SIGTERM handler then, or re-raised SIGTERM after its own, as Nest's enableShutdownHooks\(\) does\)/);
    assert.match(p.hint ?? "", /process\.on\("SIGTERM"/);
    assert.match(p.hint ?? "", /aotpack's deb: bases run the app under Debian's tini/);
  });

  test("a port never opened times out and shows the app's last output", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_NO_LISTEN=1"] }), { timeoutMs: 2500 });
    assert.equal(p.ok, false);
    assert.match(p.error ?? "", /^no HTTP response on port 8080 within 2\.5 s: the app never opened its port/);
    // stdout and stderr are separate pipes: either of its last two lines may arrive last.
    assert.match(p.error ?? "", /the app's last output: .*(waiting for a database that never comes|this one never opens its port)/);
    assert.ok(p.lastLogLines.includes("todo-server: starting (this one never opens its port)"), JSON.stringify(p.lastLogLines));
    const table = formatVerifyReport({ ok: false, platforms: [p] });
    // The same race in the table: both lines are under "last output of the app:", in either order.
    assert.match(table, /last output of the app:\n( {4}\| todo-server: (starting|waiting)[^\n]*\n){2}/);
    assert.match(table, /\| todo-server: starting \(this one never opens its port\)/);
  });

  test("an app that exits before serving is reported with its exit code", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64, { env: ["TODO_EXIT_CODE=3"] }), { timeoutMs: 20_000 });
    assert.equal(p.ok, false);
    assert.match(p.error ?? "", /^the app exited with code 3 before it answered on port 8080/);
  });

  test("a failing check fails the platform and names the check", async () => {
    const p = await verifyOne(await image(amd64Binary, AMD64), { checks: [{ path: "/todos/999", expectStatus: 200 }] });
    assert.equal(p.ok, false);
    assert.equal(p.error, "check failed: GET /todos/999 → 200: status 404, expected 200");
    assert.equal(p.exitCode, 0, "it was still stopped cleanly");
  });
});
