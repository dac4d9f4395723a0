/** SLSA v1 provenance for one platform image: who built it, from what source, with which parameters and inputs. */
import { components, type Inventory } from "./inventory.ts";

export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
export const BUILD_TYPE = "https://aotpack.invalid/buildtypes/aotpack/v1";

export interface ProvenanceInput {
  inventory: Inventory;
  /** The invocation's effective parameters (flags and project settings after defaults). */
  parameters: Record<string, unknown>;
  /** Registry bases: the base image as pulled. */
  baseImage?: { name: string; digest: string };
}

/** Remote URLs can carry credentials (https://user:token@host/...): they never reach an image. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString();
  } catch {
    // scp-like git@host:path, or no URL at all: keep only what follows an '@'.
    return url.replace(/^[^@/]*@/, "").replace(/\s/g, "");
  }
}

export function provenancePredicate(input: ProvenanceInput): Record<string, unknown> {
  const inv = input.inventory;
  const resolved: { uri: string; digest: Record<string, string>; name?: string }[] = [];
  if (inv.source?.revision) {
    resolved.push({ uri: `git+${inv.source.url ? redactUrl(inv.source.url) : "unknown"}@${inv.source.revision}`, digest: { gitCommit: inv.source.revision } });
  }
  if (input.baseImage) resolved.push({ uri: input.baseImage.name, digest: { sha256: input.baseImage.digest.replace(/^sha256:/, "") } });
  for (const c of components(inv)) {
    const digest: Record<string, string> = {};
    for (const h of c.hashes) digest[h.alg === "SHA-256" ? "sha256" : "sha512"] = h.hex;
    if (Object.keys(digest).length) resolved.push({ uri: c.purl, digest });
  }
  for (const f of inv.files) resolved.push({ uri: `file:${f.path}`, digest: { sha256: f.sha256, sha1: f.sha1 } });
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters: input.parameters,
      internalParameters: { sourceDateEpoch: inv.created },
      resolvedDependencies: resolved,
    },
    runDetails: {
      builder: { id: `pkg:npm/aotpack@${inv.tool.version}`, version: { aotpack: inv.tool.version } },
      // No start/finish times: the statement must be the same for the same inputs.
      metadata: {},
    },
  };
}
