/**
 * The main job, end to end, as a user runs it: `aotpack build` of examples/todo-api for
 * linux/amd64 + linux/arm64, then the example's own contract suite against each platform's
 * running image (arm64 under qemu-user), then a clean SIGTERM stop. Real Bun compiles, the
 * real Debian-built base, real unpack and run; nothing is faked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, REPO_ROOT } from "../support/cli.ts";
import { readLayout } from "../../src/oci/layout-source.ts";
import { validate } from "../../src/oci/validate.ts";
import { isImageIndex } from "../../src/oci/interfaces.ts";
import { formatPlatform, parsePlatform, platformEntries } from "../../src/oci/platform.ts";
import { startImage } from "../../src/verify/index.ts";
import { assertContract, todoContract } from "../../examples/todo-api/test/contract.ts";

const example = join(REPO_ROOT, "examples/todo-api");

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test("todo-api: build both platforms, serve the contract from each image, stop on SIGTERM; rebuild is reproducible", { timeout: 900_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "aotpack-e2e-todo-"));
  try {
    const env = { SOURCE_DATE_EPOCH: "1700000000" };
    const out = join(dir, "layout");
    const r = await runCli(["build", example, "--platform", "linux/amd64,linux/arm64", "-o", `oci:${out}:e2e`, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { digest: string; platforms: { platform: string; elf: { machine: string } }[] };
    assert.deepEqual(result.platforms.map((p) => p.platform), ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(result.platforms.map((p) => p.elf.machine), ["x86_64", "aarch64"]);

    const layout = await readLayout(out);
    const index = await layout.resolve("e2e");
    assert.ok(isImageIndex(index));
    await validate(index);
    assert.equal(await index.digest(), result.digest);
    const all = (await index.indexManifest()).manifests;
    const manifests = platformEntries(all);
    assert.equal(manifests.length, 2, "exactly the requested platforms");
    assert.equal(all.length - manifests.length, 2, "one attestation manifest per platform image");
    for (const d of manifests) {
      const cfg = await (await index.image(d.digest)).configFile();
      assert.equal(`${cfg.os}/${cfg.architecture}`, formatPlatform(d.platform!));
      assert.equal(cfg.created, "2023-11-14T22:13:20Z");
      assert.notEqual(cfg.config.User, "0");
      assert.notEqual(cfg.config.User, "root");
    }

    for (const platform of ["linux/amd64", "linux/arm64"]) {
      for (const environment of platform === "linux/amd64" ? ["Production", "Development"] : ["Production"]) {
        const running = await startImage({
          image: index,
          platform: parsePlatform(platform),
          ports: [{ host: 0, container: 8080 }],
          env: { ASPNETCORE_ENVIRONMENT: environment },
        });
        try {
          const base = `http://127.0.0.1:${running.ports[0]!.host}`;
          await waitForHttp(`${base}/healthz`, 60_000);
          assertContract(await todoContract(base, { environment }));
          const logs = running.logLines().join("\n");
          assert.match(logs, /Now listening on: http:\/\/\[::\]:8080/);
          assert.match(logs, new RegExp(`Hosting environment: ${environment}`));
          running.signal("SIGTERM");
          const status = await Promise.race([
            running.exited,
            new Promise<undefined>((res) => setTimeout(() => res(undefined), 5_000)),
          ]);
          assert.ok(status, `${platform}: no exit within 5 s of SIGTERM`);
          assert.equal(status.exitCode, 0, `${platform}: exit code after SIGTERM`);
        } finally {
          await running.close();
        }
      }
    }

    // Same inputs and SOURCE_DATE_EPOCH, rebuilt from scratch (no artifact/layer cache) into another
    // directory: the index digest must not change.
    const again = await runCli(["build", example, "--platform", "linux/amd64,linux/arm64", "-o", `oci:${join(dir, "again")}`, "--no-cache", "--json"], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { digest: string }).digest, result.digest);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
