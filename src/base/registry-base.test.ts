/**
 * Registry bases against a real registry (docker-registry on 127.0.0.1): a Debian-built base is
 * pushed, then resolved back per platform with its name, digest, env and user; a platform the
 * base lacks fails naming the ones it has.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AotpackError } from "../errors.ts";
import type { ElfInfo } from "../elf/types.ts";
import { emptyImage, newIndex, withConfig } from "../oci/mutate.ts";
import { parsePlatform } from "../oci/platform.ts";
import { push } from "../registry/publisher.ts";
import { REGISTRY_BIN, requireTools, startRegistry, type TestRegistry } from "../../test/support/index.ts";
import { resolveBase, type ResolvedBase } from "./index.ts";
import { REAL_MIRROR, debianMirrorReachable } from "./testing/fixtures.ts";
import { unavailable } from "../../test/support/index.ts";

const ELF: Record<"amd64" | "arm64", ElfInfo> = {
  amd64: { class: 64, machine: "x86_64", interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6"], static: false },
  arm64: { class: 64, machine: "aarch64", interpreter: "/lib/ld-linux-aarch64.so.1", needed: ["libc.so.6"], static: false },
};

describe("registry bases (real docker-registry on loopback)", () => {
  let registry: TestRegistry | undefined;
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "aotpack-base-reg-"));
  });
  after(async () => {
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("a Debian-built base pushed to the registry resolves per platform; a missing platform fails", { timeout: 600_000 }, async (t) => {
    if (!requireTools(t, [REGISTRY_BIN])) return;
    if (!(await debianMirrorReachable())) return unavailable(t, "deb.debian.org is not reachable over http");
    registry = await startRegistry();
    // Both platforms at once, as a build does: they share the InRelease, index and .deb caches.
    const [amd64, arm64] = await Promise.all(
      (["amd64", "arm64"] as const).map((arch) =>
        resolveBase({ kind: "deb", suite: "bookworm" }, parsePlatform(`linux/${arch}`), { elf: ELF[arch] }, { mirror: REAL_MIRROR, blobDir: join(work, "blobs") }),
      ),
    );
    const built: Record<string, ResolvedBase> = { amd64: amd64!, arm64: arm64! };
    const reference = `${registry.host}/aotpack/base:bookworm`;
    const pushed = await push(newIndex([{ image: built.amd64!.image }, { image: built.arm64!.image }]), reference);

    const arm = await resolveBase({ kind: "registry", reference }, parsePlatform("linux/arm64"), {}, {});
    assert.equal(arm.name, reference);
    assert.equal(arm.digest, pushed.digest, "base.digest is what the reference resolved to");
    assert.equal(arm.user, "65532:65532", "the base's own user is kept");
    assert.equal(await arm.image.digest(), await built.arm64!.image.digest(), "the very image that was pushed");
    const cfg = await arm.image.configFile();
    assert.equal(cfg.architecture, "arm64");
    assert.ok(cfg.config.Env?.includes("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"), "the base's env is kept");
    assert.equal(arm.summary.kind, "registry");
    assert.equal(arm.summary.layers, 1);
    assert.equal(arm.summary.compressedBytes, built.arm64!.summary.compressedBytes);

    await assert.rejects(
      resolveBase({ kind: "registry", reference }, parsePlatform("linux/s390x"), {}, {}),
      (err: unknown) => err instanceof AotpackError && /has no image for linux\/s390x; available: linux\/amd64, linux\/arm64/.test(err.message),
    );
  });

  test("a base without a user gets the non-root default; a base's own user is kept", { timeout: 120_000 }, async (t) => {
    if (!requireTools(t, [REGISTRY_BIN])) return;
    registry ??= await startRegistry();
    const amd64 = parsePlatform("linux/amd64");
    const plain = `${registry.host}/aotpack/plain:1`;
    await push(emptyImage(amd64, { sourceDateEpoch: 0 }), plain);
    assert.equal((await resolveBase({ kind: "registry", reference: plain }, amd64, {}, {})).user, "65532:65532");

    const dotnetLike = `${registry.host}/aotpack/app-user:1`;
    await push(withConfig(emptyImage(amd64, { sourceDateEpoch: 0 }), (c) => ({ ...c, config: { ...c.config, User: "1654" } })), dotnetLike);
    const base = await resolveBase({ kind: "registry", reference: dotnetLike }, amd64, {}, {});
    assert.equal(base.user, "1654");
    await assert.rejects(resolveBase({ kind: "registry", reference: dotnetLike }, parsePlatform("linux/arm64"), {}, {}), /has no image for linux\/arm64; available: linux\/amd64/);
  });
});
