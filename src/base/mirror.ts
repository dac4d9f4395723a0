/** Which Debian mirror to use: the option, else the host's apt sources, else deb.debian.org. */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.ts";

export const DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian";

/**
 * A URI is a Debian archive (not debian-security, not a third-party repo) when its path ends
 * in /debian, or is a snapshot.debian.org-style /debian/20250520T000000Z.
 */
function isDebianArchive(uri: string): boolean {
  return /^https?:\/\/[^/]+(\/.*)?\/debian(\/\d{8}T\d{6}Z)?\/?$/.test(uri);
}

/** First Debian archive URI in one-line `deb URI suite comp…` sources. */
export function mirrorFromSourcesList(text: string): string | undefined {
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    // deb [opts] uri suite components
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+\s+(.*)$/.exec(line);
    // Third-party repos also live under .../debian (download.docker.com/linux/debian) but have no "main".
    if (m?.[1] && isDebianArchive(m[1]) && (m[2] ?? "").split(/\s+/).includes("main")) return m[1];
  }
  return undefined;
}

/** First Debian archive URI in deb822 `.sources` stanzas of Types: deb that are not disabled. */
export function mirrorFromDeb822(text: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#")) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m?.[1]) fields.set(m[1].toLowerCase(), (m[2] ?? "").trim());
    }
    if (!(fields.get("types") ?? "").split(/\s+/).includes("deb")) continue;
    if ((fields.get("enabled") ?? "yes").toLowerCase() === "no") continue;
    if (!(fields.get("components") ?? "").split(/\s+/).includes("main")) continue;
    for (const uri of (fields.get("uris") ?? "").split(/\s+/)) if (uri && isDebianArchive(uri)) return uri;
  }
  return undefined;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function hostAptMirror(aptDir = "/etc/apt"): string | undefined {
  const list = readOr(join(aptDir, "sources.list"));
  const fromList = list === undefined ? undefined : mirrorFromSourcesList(list);
  if (fromList) return fromList;
  let names: string[] = [];
  try {
    names = readdirSync(join(aptDir, "sources.list.d")).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const text = readOr(join(aptDir, "sources.list.d", name));
    if (text === undefined) continue;
    const found = name.endsWith(".sources") ? mirrorFromDeb822(text) : name.endsWith(".list") ? mirrorFromSourcesList(text) : undefined;
    if (found) return found;
  }
  return undefined;
}

export function chooseMirror(option: string | undefined, aptDir?: string): string {
  const chosen = option ?? hostAptMirror(aptDir) ?? DEFAULT_DEBIAN_MIRROR;
  if (!/^https?:\/\/[^/\s]+/.test(chosen)) {
    throw new UsageError(`invalid Debian mirror "${chosen}": expected an http(s) URL such as ${DEFAULT_DEBIAN_MIRROR}`);
  }
  return chosen.replace(/\/+$/, "");
}
