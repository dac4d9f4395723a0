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
import { test, type TestContext } from "node:test";
import { sha256 } from "../oci/digest.ts";
import { DebianArchive } from "./archive.ts";
import type { ReleaseFile } from "./release.ts";
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

interface SignedMirror {
  dir: string;
  keyring: string;
  mirror: string;
  cacheRoot: string;
  cachedFile: string;
  fresh: string;
  freshDate: Date;
  signed(text: string): Promise<string>;
  requests(): number;
}

/** A test key, a loopback mirror serving one fresh signed InRelease, and where the archive caches it. */
async function signedMirror(t: TestContext): Promise<SignedMirror | undefined> {
  const missing = missingTools(["gpg", "gpgv"]);
  if (missing) {
    unavailable(t, missing);
    return undefined;
  }
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
  const freshDate = new Date(Math.floor((Date.now() - DAY) / 1000) * 1000);
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
  return { dir, keyring, mirror, cacheRoot, cachedFile, fresh, freshDate, signed, requests: () => requests };
}

const DAY = 86_400_000;

test("a lock's release date: a cached InRelease at least as new is used without asking the mirror; older or expired ones are refreshed", async (t) => {
  const m = await signedMirror(t);
  if (!m) return;
  const lockRelease = new Date(Date.now() - 10 * DAY);
  const resolve = async (cached: string) => {
    await writeFile(m.cachedFile, cached);
    const before = m.requests();
    const archive = new DebianArchive({ mirror: m.mirror, suite: "bookworm", cacheRoot: m.cacheRoot, keyring: m.keyring, cachedReleaseSince: lockRelease.toUTCString() });
    const { release: r } = await archive.release();
    return { date: r.date, requests: m.requests() - before };
  };

  // Cached at the lock's date: used as it is.
  const atLock = await resolve(await m.signed(release(lockRelease)));
  assert.deepEqual(atLock, { date: lockRelease.toUTCString(), requests: 0 });
  // Cached before the lock's date: refreshed.
  const older = await resolve(await m.signed(release(new Date(lockRelease.getTime() - DAY))));
  assert.deepEqual(older, { date: m.freshDate.toUTCString(), requests: 1 });
  // Cached and new enough, but past its Valid-Until: refreshed, not a failed build.
  const expired = await resolve(await m.signed(release(new Date(lockRelease.getTime() + DAY), new Date(Date.now() - DAY / 2))));
  assert.deepEqual(expired, { date: m.freshDate.toUTCString(), requests: 1 });
  assert.equal(await readFile(m.cachedFile, "utf8"), m.fresh, "the refreshed InRelease replaced the cached one");
});

test("issue 33: a garbage cached InRelease is a miss: dropped with a warning naming the file and fetched again, with or without a lock", async (t) => {
  const m = await signedMirror(t);
  if (!m) return;
  for (const cachedReleaseSince of [undefined, new Date(Date.now() - 10 * DAY).toUTCString()]) {
    await writeFile(m.cachedFile, "{garbage\n");
    const said: string[] = [];
    const before = m.requests();
    const archive: DebianArchive = new DebianArchive({
      mirror: m.mirror,
      suite: "bookworm",
      cacheRoot: m.cacheRoot,
      keyring: m.keyring,
      ...(cachedReleaseSince ? { cachedReleaseSince } : {}),
      onProgress: (msg) => said.push(msg),
    });
    const got: ReleaseFile = (await archive.release()).release;
    assert.equal(got.date, m.freshDate.toUTCString());
    assert.equal(m.requests() - before, 1, "fetched again");
    assert.ok(said.some((s) => s.includes(m.cachedFile) && /dropped/.test(s)), `a warning names ${m.cachedFile}:\n${said.join("\n")}`);
    assert.equal(await readFile(m.cachedFile, "utf8"), m.fresh, "the fetched InRelease replaced it");
  }
});
