/** The registry client: references, the distribution API, auth, pull (source) and push (sink). */
export { parseReference, makeReference, apiHost, isLoopbackRegistry, type Reference } from "./reference.ts";
export { RegistryClient, MANIFEST_ACCEPT, type RegistryClientOptions, type FetchedManifest, type BlobSource, type UploadOutcome } from "./client.ts";
export { RegistryError } from "./errors.ts";
export { credentialsFor, type Credentials } from "./auth.ts";
export { remoteImage, remoteIndex, remoteIndexOrImage, pull, BlobCache, RemoteLayer, indexPlatforms, type RemoteOptions, type PullResult, type PulledImage } from "./remote.ts";
export { registryPublisher, push, type RegistryPublisherOptions } from "./publisher.ts";
export { noteBlobHome } from "./client.ts";
