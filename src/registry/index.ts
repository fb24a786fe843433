// The public surface of src/registry.
export { DOCKER_HUB, canonicalRegistry, formatReference, manifestIdentifier, parseReference, registryApiHost, repositoryName } from './reference.ts';
export type { Reference } from './reference.ts';
export { DEFAULT_CHUNK_SIZE, defaultBackoff } from './options.ts';
export type { ClientCertificate, RegistryOptions } from './options.ts';
export { RegistryError, isTemporary } from './registry-error.ts';
export type { Diagnostic } from './registry-error.ts';
export { withRetries } from './retry.ts';
export type { RetryOptions } from './retry.ts';
export { RegistryTransport } from './transport.ts';
export { MANIFEST_ACCEPT, RegistryClient } from './client.ts';
export type { BlobSource, FetchedManifest, ManifestHead, RepositoryRef, UploadOutcome } from './client.ts';
export { remoteImage, remoteImageWithMirrors, writeImage } from './remote.ts';
export type { MirrorOptions, RemoteOptions } from './remote.ts';
