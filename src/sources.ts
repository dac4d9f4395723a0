/**
 * Open an image or index from a user's spec: `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`,
 * `registry:REF`, a bare registry reference, or a bare path to a layout directory.
 * The transport registry (src/transports) does it; this is its old home, kept for imports.
 */
export { openSource, type OpenedSource } from "./transports/index.ts";
