/**
 * InRelease: the signed root of trust of a Debian suite. Verified with gpgv against the
 * Debian archive keyring; we parse only the text gpgv hands back as signed, never the
 * file itself, so nothing outside the signature can slip in.
 */
import { spawn } from "node:child_process";
import { AotpackError } from "../errors.ts";

export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

export interface ReleaseFile {
  origin?: string;
  suite?: string;
  codename?: string;
  date?: string;
  validUntil?: string;
  architectures: string[];
  components: string[];
  /** path relative to dists/SUITE/ → sha256 hex + size */
  sha256: Map<string, { sha256: string; size: number }>;
  acquireByHash: boolean;
}

/** The file is not an InRelease signed by a key of the keyring (gpgv ran, and said no). */
export class InReleaseSignatureError extends AotpackError {}

/** Verify an InRelease file with gpgv and return the signed text. Throws when no trusted valid signature. */
export async function verifyInRelease(file: string, keyring = DEBIAN_KEYRING, timeoutMs = 60_000): Promise<string> {
  const child = spawn("gpgv", ["--keyring", keyring, "--status-fd", "3", "--output", "-", file], {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    timeout: timeoutMs,
  });
  const out: Buffer[] = [];
  const status: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => err.push(b));
  (child.stdio[3] as NodeJS.ReadableStream).on("data", (b: Buffer) => status.push(b));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "ENOENT"
          ? new AotpackError("gpgv not found: it verifies the Debian InRelease signature", {
              hint: "apt-get install gpgv debian-archive-keyring",
            })
          : e,
      ),
    );
    child.on("close", resolve);
  });
  const lines = Buffer.concat(status).toString("utf8").split("\n");
  // apt's rule: at least one good signature from the keyring and no bad one.
  const valid = lines.some((l) => l.startsWith("[GNUPG:] VALIDSIG "));
  const bad = lines.some((l) => /^\[GNUPG:\] (BADSIG|EXPKEYSIG|REVKEYSIG) /.test(l));
  if (!valid || bad) {
    const detail = Buffer.concat(err).toString("utf8").trim().split("\n").pop() ?? `gpgv exit ${code}`;
    throw new InReleaseSignatureError(`InRelease signature verification failed (${file}): ${detail}`, {
      hint: `the mirror served a file not signed by a key in ${keyring}; check the mirror or update debian-archive-keyring`,
    });
  }
  return Buffer.concat(out).toString("utf8");
}

export function parseRelease(text: string): ReleaseFile {
  const fields = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.split("\n")) {
    if (/^\s/.test(line) && current) fields.set(current, `${fields.get(current) ?? ""}\n${line.trim()}`);
    else {
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m?.[1]) {
        current = m[1].toLowerCase();
        fields.set(current, (m[2] ?? "").trim());
      }
    }
  }
  const sha256 = new Map<string, { sha256: string; size: number }>();
  for (const line of (fields.get("sha256") ?? "").split("\n")) {
    const m = /^([0-9a-f]{64})\s+(\d+)\s+(\S+)$/.exec(line.trim());
    if (m?.[1] && m[2] && m[3]) sha256.set(m[3], { sha256: m[1], size: Number(m[2]) });
  }
  const opt = (k: string) => fields.get(k);
  const rel: ReleaseFile = {
    architectures: (opt("architectures") ?? "").split(/\s+/).filter(Boolean),
    components: (opt("components") ?? "").split(/\s+/).filter(Boolean),
    sha256,
    acquireByHash: opt("acquire-by-hash") === "yes",
  };
  for (const [k, key] of [["origin", "origin"], ["suite", "suite"], ["codename", "codename"], ["date", "date"], ["valid-until", "validUntil"]] as const) {
    const v = opt(k);
    if (v !== undefined) rel[key] = v;
  }
  return rel;
}

/** Refuse a validly signed InRelease of another suite (replay) or one past its Valid-Until (freeze attack). */
export function checkRelease(rel: ReleaseFile, suite: string, now = new Date()): void {
  if (rel.suite !== suite && rel.codename !== suite) {
    throw new AotpackError(
      `InRelease is for suite ${rel.suite ?? "?"} (${rel.codename ?? "?"}), not ${suite}: refusing a release of another suite`,
    );
  }
  if (rel.validUntil !== undefined) {
    const until = Date.parse(rel.validUntil);
    if (!Number.isNaN(until) && until < now.getTime()) {
      throw new AotpackError(`InRelease of ${suite} expired on ${rel.validUntil}: refusing stale metadata`);
    }
  }
}
