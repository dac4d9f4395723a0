/**
 * Long downloads show their bytes while they run (#17: "Runtime and Debian downloads show no bytes"):
 * a Debian download says how far it is at most every progressEveryMs, and a runtime fetch by
 * `npm pack`, which reports nothing until it ends, says it is still running.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadToFile } from "./http.ts";
import { ensureNpmRuntime } from "../compile/npm-runtime.ts";

test("a slow Debian download reports its bytes while it streams", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-dl-progress-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const part = Buffer.alloc(300_000, 7);
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-length": String(part.length * 3) });
    let sent = 0;
    const tick = setInterval(() => {
      res.write(part);
      if (++sent === 3) {
        clearInterval(tick);
        res.end();
      }
    }, 250);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const { port } = server.address() as { port: number };
  const said: string[] = [];
  await downloadToFile(`http://127.0.0.1:${port}/pool/libc6.deb`, join(dir, "libc6.deb"), { onProgress: (m) => said.push(m), label: "libc6.deb", progressEveryMs: 200 });
  assert.ok(said.some((m) => /^libc6\.deb: \d+(\.\d+)? KiB of 878\.9 KiB$/.test(m)), said.join("\n") || "(nothing said)");
});

test("a slow npm pack says it is still fetching", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-npm-heartbeat-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // A stand-in npm on PATH that takes a while and then fails: only the progress is under test.
  const bin = join(dir, "bin");
  await import("node:fs/promises").then((fs) => fs.mkdir(bin));
  await writeFile(join(bin, "npm"), "#!/bin/sh\nsleep 1\necho 'npm error code E404' >&2\nexit 1\n");
  await chmod(join(bin, "npm"), 0o755);
  const said: string[] = [];
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, AOTPACK_CACHE_DIR: join(dir, "cache") };
  await assert.rejects(
    ensureNpmRuntime({ pkg: "@oven/bun-linux-x64", version: "0.0.0-test", fileInPackage: "bin/bun", name: "bun" }, { env, onProgress: (m) => said.push(m), heartbeatMs: 300 }),
    /npm pack failed/,
  );
  assert.ok(said.some((m) => /^still fetching runtime @oven\/bun-linux-x64@0\.0\.0-test from npm \(\d+ s\)$/.test(m)), said.join("\n"));
});
