/**
 * The CycloneDX predicate type, apart from cyclonedx.ts: that module loads the large CycloneDX
 * library, which only a CycloneDX build needs (a warm SPDX build should not pay for loading it).
 */
export const CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom";
