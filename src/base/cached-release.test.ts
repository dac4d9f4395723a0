/**
 * DebianArchive's `cachedReleaseSince` (a lock's release date), against a local mirror and a test
 * key: a verified cached InRelease at least that new is used without a request; an older one, or
 * one past its Valid-Until, is refreshed from the mirror instead of failing the build.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sha256 } from "../oci/digest.ts";
import { DebianArchive } from "./archive.ts";
import { missingTools, unavailable } from "../../test/support/index.ts";

function release(date: Date, validUntil?: Date): string {
  return [
    "Origin: Debian",
    "Suite: stable",
    "Codename: bookworm",
    `Date: ${date.toUTCString()}`,
    ...(validUntil ? [`Valid-Until: ${validUntil.toUTCString()}`] : []),
    "Architectures: amd64",
    "Components: main",
    "SHA256:",
    ` ${"0".repeat(64)} 1 main/binary-amd64/Packages.xz`,
    "",
  ].join("\n");
}

test("a lock's release date: a cached InRelease at least as new is used without asking the mirror; older or expired ones are refreshed", async (t) => {
  const missing = missingTools(["gpg", "gpgv"]);
  if (missing) return unavailable(t, missing);
  const dir = await mkdtemp(join(tmpdir(), "aotpack-cached-release-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const gnupg = join(dir, "gnupg");
  await mkdir(gnupg, { mode: 0o700 });
  const gpg = (...args: string[]): Buffer => execFileSync("gpg", ["--homedir", gnupg, "--batch", "--quiet", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  gpg("--passphrase", "", "--quick-gen-key", "aotpack test archive <test@example.invalid>", "ed25519", "sign", "never");
  const keyring = join(dir, "keyring.gpg");
  await writeFile(keyring, gpg("--export"));
  const signed = async (text: string): Promise<string> => {
    const plain = join(dir, "Release");
    await writeFile(plain, text);
    return gpg("--clearsign", "--output", "-", plain).toString();
  };

  const day = 86_400_000;
  const freshDate = new Date(Math.floor((Date.now() - day) / 1000) * 1000);
  const fresh = await signed(release(freshDate));
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    if (req.url === "/debian/dists/bookworm/InRelease") res.end(fresh);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
  const cacheRoot = join(dir, "cache");
  const cachedFile = join(cacheRoot, "debian", sha256(mirror).slice(7, 7 + 16), "bookworm", "InRelease");
  await mkdir(join(cachedFile, ".."), { recursive: true });

  const lockRelease = new Date(Date.now() - 10 * day);
  const resolve = async (cached: string) => {
    await writeFile(cachedFile, cached);
    requests = 0;
    const archive = new DebianArchive({ mirror, suite: "bookworm", cacheRoot, keyring, cachedReleaseSince: lockRelease.toUTCString() });
    const { release: r } = await archive.release();
    return { date: r.date, requests };
  };

  // Cached at the lock's date: used as it is.
  const atLock = await resolve(await signed(release(lockRelease)));
  assert.deepEqual(atLock, { date: lockRelease.toUTCString(), requests: 0 });
  // Cached before the lock's date: refreshed.
  const older = await resolve(await signed(release(new Date(lockRelease.getTime() - day))));
  assert.deepEqual(older, { date: freshDate.toUTCString(), requests: 1 });
  // Cached and new enough, but past its Valid-Until: refreshed, not a failed build.
  const expired = await resolve(await signed(release(new Date(lockRelease.getTime() + day), new Date(Date.now() - day / 2))));
  assert.deepEqual(expired, { date: freshDate.toUTCString(), requests: 1 });
  assert.equal(await readFile(cachedFile, "utf8"), fresh, "the refreshed InRelease replaced the cached one");
});
