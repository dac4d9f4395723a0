/** JSON shapes from the OCI image spec (image-spec v1.1). Docker schema2 fits the same shapes. */
import type { Digest } from "./digest.ts";
import type { Platform } from "./platform.ts";

export type Annotations = Record<string, string>;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Annotations;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Annotations;
  subject?: Descriptor;
  artifactType?: string;
}

export interface IndexManifest {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Annotations;
}

/** The `config` part of an image config: what the runtime uses. */
export interface RuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfigFile {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
  config: RuntimeConfig;
  rootfs: { type: "layers"; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

/** Well-known annotation keys. */
export const Annotation = {
  RefName: "org.opencontainers.image.ref.name",
  Created: "org.opencontainers.image.created",
  Source: "org.opencontainers.image.source",
  Revision: "org.opencontainers.image.revision",
  Title: "org.opencontainers.image.title",
  BaseName: "org.opencontainers.image.base.name",
  BaseDigest: "org.opencontainers.image.base.digest",
} as const;
