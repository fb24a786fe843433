// Image references (`[registry/]repository[:tag][@digest]`) with Docker's normalisation rules
// (github.com/distribution/reference, go-containerregistry pkg/name).
import { UsageError } from '../errors.ts';
import type { Digest } from '../oci/types.ts';

/** Canonical name of Docker Hub. The three spellings people use all mean this registry. */
export const DOCKER_HUB = 'index.docker.io';
/** Hub's API is served from a different host than its name. */
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export interface Reference {
  /** Canonical registry host[:port]; Docker Hub is always DOCKER_HUB. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/ubuntu`. */
  readonly repository: string;
  /** Undefined only when a digest was given without a tag. */
  readonly tag?: string;
  readonly digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]{1,5})?$`);
const MAX_NAME_LENGTH = 255;

/** Maps the Hub aliases to DOCKER_HUB; other registries are returned unchanged. */
export function canonicalRegistry(registry: string): string {
  return DOCKER_HUB_ALIASES.has(registry) ? DOCKER_HUB : registry;
}

/** The host the HTTP API of a registry is served from. */
export function registryApiHost(registry: string): string {
  return canonicalRegistry(registry) === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

export function parseReference(s: string): Reference {
  const bad = (why: string): UsageError => new UsageError(`invalid image reference "${s}": ${why}`);
  if (s.length === 0) throw bad('it is empty');
  if (/\s/.test(s)) throw bad('it contains whitespace');

  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!DIGEST.test(d)) throw bad(`"${d}" is not a sha256 digest (sha256:<64 lowercase hex>)`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }

  // A ':' after the last '/' separates the tag; one before it belongs to a registry port.
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`"${tag}" is not a valid tag`);
  }

  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    // Docker's rule: the first component is a registry when it looks like a host.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      if (!DOMAIN.test(first)) throw bad(`"${first}" is not a valid registry host`);
      registry = canonicalRegistry(first);
      repository = rest.slice(firstSlash + 1);
    }
  }
  if (repository.length === 0) throw bad('the repository name is empty');
  for (const component of repository.split('/')) {
    if (!COMPONENT.test(component)) {
      throw bad(`repository component "${component}" must be lowercase letters, digits and separators (. _ __ -)`);
    }
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > MAX_NAME_LENGTH) throw bad(`the name is longer than ${MAX_NAME_LENGTH} characters`);

  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** `registry/repository` */
export function repositoryName(ref: Pick<Reference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/** `registry/repository[:tag][@digest]`, fully qualified. */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/** What the manifest endpoint is asked for: the digest when there is one, else the tag. */
export function manifestIdentifier(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
