/** Media types from the OCI image spec, plus the Docker schema2 types we read. */
export const MediaType = {
  OciLayout: "application/vnd.oci.layout.header.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

export type Compression = "gzip" | "zstd" | "none";

export function layerCompression(mt: string): Compression {
  if (mt.endsWith("+zstd") || mt.endsWith(".zstd")) return "zstd";
  if (mt.endsWith("gzip")) return "gzip";
  return "none";
}

export function ociLayerMediaType(c: Compression): string {
  return c === "gzip" ? MediaType.OciLayerGzip : c === "zstd" ? MediaType.OciLayerZstd : MediaType.OciLayer;
}
