import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Platform } from "../oci/platform.ts";
import { ensureBunRuntime } from "./bun-runtime.ts";
import { ensureNodeRuntime } from "./node-sea.ts";
import { canUnshareNet, compileOffline } from "./testing/compile-offline.ts";
import { runArgv, startServer } from "./testing/serve.ts";
import { hasQemuArm64, requireReal } from "../../test/support/index.ts";
import type { Artifact, RuntimeKind } from "./types.ts";

const TODO_API = fileURLToPath(new URL("../../examples/todo-api/", import.meta.url));
const PLATFORMS: Platform[] = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64" },
];

for (const runtime of ["bun", "node"] as const satisfies readonly RuntimeKind[]) {
  describe(`examples/todo-api compiled with ${runtime} for linux/amd64 and linux/arm64, offline`, { skip: !existsSync(join(TODO_API, "package.json")) && "examples/todo-api is not in this tree" }, () => {
    let out: string;
    let artifacts: Artifact[] = [];
    let offline = false;

    before(async () => {
      out = await mkdtemp(join(tmpdir(), `aotpack-todo-${runtime}-`));
      for (const p of PLATFORMS) await (runtime === "bun" ? ensureBunRuntime(p) : ensureNodeRuntime(p));
      offline = await canUnshareNet();
      const requests = PLATFORMS.map((platform) => ({
        projectDir: TODO_API,
        platform,
        layout: "single-file" as const,
        outDir: join(out, platform.architecture),
      }));
      const result = await compileOffline(runtime, requests, { unshare: offline });
      assert.equal(result.error, undefined, `compile failed: ${result.error}`);
      artifacts = result.artifacts ?? [];
    });
    after(async () => {
      if (out) await rm(out, { recursive: true, force: true });
    });

    test("compiled under unshare -n (no network)", (t) => {
      if (!requireReal(t, offline, "unshare -n (root or user namespaces)")) return;
      assert.deepEqual(artifacts.map((a) => a.elf.machine), ["x86_64", "aarch64"]);
      assert.deepEqual(artifacts.map((a) => a.entrypoint), [["/app/todo-api"], ["/app/todo-api"]]);
    });

    for (const [i, arch] of ["amd64", "arm64"].entries()) {
      test(`${arch}: GET /todos answers 200 with the sample list ${arch === "amd64" ? "natively" : "under qemu"}; SIGTERM exits 0`, async (t) => {
        if (arch === "arm64" && process.arch !== "arm64" && !requireReal(t, hasQemuArm64(), "qemu-aarch64-static + arm64 cross libs")) return;
        const a = artifacts[i];
        assert.ok(a);
        const server = await startServer(runArgv(arch, a.layers[0]!.files[0]!.source), { path: "/todos", timeoutMs: 120_000 });
        try {
          const todos = JSON.parse(server.body) as unknown;
          assert.ok(Array.isArray(todos) && todos.length > 0, server.body);
        } finally {
          const exit = await server.stop();
          assert.equal(exit.killed, false, "did not exit after SIGTERM");
          assert.equal(exit.code, 0, server.output());
        }
      });
    }
  });
}
