/** The SBOM formats a build can attach, parsed from flags: kept apart from the writers so flag parsing loads nothing else. */
import { UsageError } from "../errors.ts";

export type SbomFormat = "spdx" | "cyclonedx";
export const SBOM_FORMATS = ["spdx", "cyclonedx", "none"] as const;

export function parseSbomFormat(value: string): SbomFormat | "none" {
  if ((SBOM_FORMATS as readonly string[]).includes(value)) return value as SbomFormat | "none";
  throw new UsageError(`invalid --sbom "${value}": expected spdx, cyclonedx or none`);
}
