// kaniko's flag surface as data: one row per flag, with kaniko's spelling, short letter, default, env var and
// whether we implement it yet. commander options, the parser into typed options, `--help` and the README's flag
// table are all generated from these rows, so they cannot disagree.

export type FlagKind =
  | 'bool'      // --flag, --flag=true|false
  | 'string'
  | 'int'
  | 'duration'  // Go duration: 336h, 90m, 1h30m
  | 'multi'     // repeatable; each occurrence appends
  | 'kv'        // repeatable key=value; later value wins
  | 'multikv';  // repeatable key=v1;key2=v2 lists, appended per key

export interface FlagSpec {
  readonly name: string;
  readonly short?: string;
  readonly kind: FlagKind;
  readonly default?: string | boolean | number;
  readonly help: string;
  /** Environment variable that also sets it (kaniko reads these at start-up). */
  readonly env?: string;
  /** A deprecated alias: the value is copied to this flag with a warning. */
  readonly aliasOf?: string;
  /** False while the behaviour is not built: setting the flag fails with "not supported yet". */
  readonly supported: boolean;
  /** Not in kaniko: ours. */
  readonly extension?: boolean;
  readonly hidden?: boolean;
}

const registryFlags: readonly FlagSpec[] = [
  { name: 'insecure', kind: 'bool', default: false, supported: true, help: 'Push to insecure registries over plain HTTP' },
  { name: 'insecure-pull', kind: 'bool', default: false, supported: true, help: 'Pull from insecure registries over plain HTTP' },
  { name: 'insecure-registry', kind: 'multi', supported: true, help: 'Registry to reach over plain HTTP (repeatable)' },
  { name: 'skip-tls-verify', kind: 'bool', default: false, supported: true, help: 'Push (and pull) without verifying TLS certificates' },
  { name: 'skip-tls-verify-pull', kind: 'bool', default: false, supported: true, help: 'Pull without verifying TLS certificates' },
  { name: 'skip-tls-verify-registry', kind: 'multi', supported: true, help: 'Registry whose TLS certificate is not verified (repeatable)' },
  { name: 'registry-certificate', kind: 'kv', supported: true, help: 'registry=/path/ca.pem: extra CA for a registry (repeatable)' },
  { name: 'registry-client-cert', kind: 'kv', supported: true, help: 'registry=/path/cert,/path/key: client certificate for mutual TLS (repeatable)' },
  { name: 'registry-mirror', kind: 'multi', env: 'KANIKO_REGISTRY_MIRROR', supported: true, help: 'Mirror for docker.io pulls (repeatable)' },
  { name: 'registry-map', kind: 'multikv', env: 'KANIKO_REGISTRY_MAP', supported: true, help: 'orig.registry=new.registry[/prefix];…: remap pulls (repeatable)' },
  { name: 'skip-default-registry-fallback', kind: 'bool', default: false, supported: true, help: 'Fail when no mirror or mapped registry has the image' },
];

const logFlags: readonly FlagSpec[] = [
  { name: 'verbosity', short: 'v', kind: 'string', default: 'info', supported: true, help: 'Log level: trace, debug, info, warn, error, fatal, panic' },
  { name: 'log-format', kind: 'string', default: 'color', supported: true, help: 'Log format: text, color or json' },
  { name: 'log-timestamp', kind: 'bool', default: false, supported: true, help: 'Timestamps in text and color logs' },
];

export const executorFlags: readonly FlagSpec[] = [
  ...logFlags,
  { name: 'progress', kind: 'string', default: 'auto', env: 'BUILDKIT_PROGRESS', supported: true, extension: true, help: 'Build output: auto (tty on a terminal, else plain), plain (numbered step lines), tty (live display) or quiet (errors and the digest)' },
  { name: 'force', kind: 'bool', default: false, supported: true, help: 'Build outside a container, in / (destructive for the host)' },
  { name: 'root-dir', kind: 'string', supported: true, extension: true, help: 'Build in this directory instead of / (RUN chroots into it); created if missing' },
  { name: 'rootless', kind: 'string', default: 'auto', supported: true, extension: true, help: 'Non-root mode (owners kept in a table; RUN under a fake-root supervisor): auto (when not root or lacking capabilities), always or never' },
  { name: 'dockerfile', short: 'f', kind: 'string', default: 'Dockerfile', supported: true, help: 'Path to the Dockerfile (relative paths: as given, then in the context)' },
  { name: 'context', short: 'c', kind: 'string', default: '/workspace/', supported: true, help: 'Build context: a directory, or a scheme:// source' },
  { name: 'context-sub-path', kind: 'string', supported: true, help: 'Sub-directory of a fetched remote context to use as the context' },
  { name: 'bucket', short: 'b', kind: 'string', supported: true, hidden: true, help: 'Legacy: GCS bucket holding the context' },
  { name: 'destination', short: 'd', kind: 'multi', supported: true, help: 'Image to push (repeatable)' },
  { name: 'snapshot-mode', kind: 'string', default: 'full', supported: true, help: 'Change detection: full, redo or time' },
  { name: 'snapshotMode', kind: 'string', aliasOf: 'snapshot-mode', supported: true, hidden: true, help: 'Deprecated: use --snapshot-mode' },
  { name: 'custom-platform', kind: 'string', supported: true, help: 'Platform os/arch[/variant], or a comma-separated list for an image index (default: this host)' },
  { name: 'customPlatform', kind: 'string', aliasOf: 'custom-platform', supported: true, hidden: true, help: 'Deprecated: use --custom-platform' },
  { name: 'platform', kind: 'string', supported: true, extension: true, help: "buildx's spelling of --custom-platform" },
  { name: 'annotation', kind: 'multi', supported: true, extension: true, help: '[manifest:|index:|manifest-descriptor:|index-descriptor:]KEY=VALUE OCI annotation (repeatable)' },
  { name: 'build-arg', kind: 'multi', supported: true, help: 'K=V build argument; a bare K takes its value from the environment (repeatable)' },
  { name: 'ssh', kind: 'multi', supported: true, extension: true, help: 'default, ID=SOCKET or ID=KEYFILE[,KEYFILE]: an SSH agent for RUN --mount=type=ssh (repeatable)' },
  { name: 'secret', kind: 'multi', supported: true, extension: true, help: 'id=ID,src=PATH or id=ID,env=VAR: a secret for RUN --mount=type=secret (repeatable)' },
  { name: 'build-context', kind: 'multi', supported: true, extension: true, help: 'NAME=VALUE: a named context for FROM, COPY --from and RUN --mount from=: a directory, a --context URL, docker-image://REF or oci-layout://PATH[:TAG|@DIGEST] (repeatable)' },
  ...registryFlags,
  { name: 'push-retry', kind: 'int', default: 0, supported: true, help: 'Retries of a failed push' },
  { name: 'push-ignore-immutable-tag-errors', kind: 'bool', default: false, supported: true, help: 'Treat "tag is immutable" push errors as success' },
  { name: 'image-fs-extract-retry', kind: 'int', default: 0, supported: true, help: 'Retries of the base image extraction' },
  { name: 'image-download-retry', kind: 'int', default: 0, supported: true, help: 'Retries of a failed base image pull' },
  { name: 'kaniko-dir', kind: 'string', default: '/kaniko', env: 'KANIKO_DIR', supported: true, help: "The executor's own directory (left out of snapshots in container mode)" },
  { name: 'tar-path', kind: 'string', supported: true, help: 'Also write the image as a docker-save tarball here (several platforms: an OCI-layout tarball of the index with a docker-save manifest.json)' },
  { name: 'tarPath', kind: 'string', aliasOf: 'tar-path', supported: true, hidden: true, help: 'Deprecated: use --tar-path' },
  { name: 'single-snapshot', kind: 'bool', default: false, supported: true, help: 'Take one snapshot at the end of the stage' },
  { name: 'reproducible', kind: 'bool', default: false, supported: true, help: 'Strip timestamps: same inputs give the same digest' },
  { name: 'target', kind: 'string', supported: true, help: 'Stage to build (default: the last)' },
  { name: 'no-push', kind: 'bool', default: false, env: 'KANIKO_NO_PUSH', supported: true, help: 'Build without pushing' },
  { name: 'no-push-cache', kind: 'bool', default: false, supported: true, help: 'Do not push cache layers' },
  { name: 'cache', kind: 'bool', default: false, supported: true, help: 'Use the layer cache and the base-image cache directory' },
  { name: 'cache-repo', kind: 'string', supported: true, help: 'Repository for cached layers (oci:DIR for a local layout)' },
  { name: 'cache-dir', kind: 'string', default: '/cache', supported: true, help: 'Base-image cache directory filled by the warmer' },
  { name: 'cache-mount-dir', kind: 'string', supported: true, extension: true, help: 'Where RUN --mount=type=cache contents persist between builds (default: <kaniko-dir>/cache-mounts; mount a volume here)' },
  { name: 'cache-ttl', kind: 'duration', default: '336h', supported: true, help: 'Maximum age of cache entries' },
  { name: 'cache-copy-layers', kind: 'bool', default: false, supported: true, help: 'Cache COPY layers' },
  { name: 'cache-run-layers', kind: 'bool', default: true, supported: true, help: 'Cache RUN layers' },
  { name: 'digest-file', kind: 'string', supported: true, help: 'Write the image digest to this file' },
  { name: 'image-name-with-digest-file', kind: 'string', supported: true, help: 'Write repo@digest for each destination to this file' },
  { name: 'image-name-tag-with-digest-file', kind: 'string', supported: true, help: 'Write repo:tag@digest for each destination to this file' },
  { name: 'metadata-file', kind: 'string', supported: true, help: 'Write buildx\'s build result JSON (digest, descriptor, config digest, image names) to this file' },
  { name: 'sbom', kind: 'bool', default: false, supported: true, extension: true, help: 'Attach an SPDX SBOM attestation (buildx --sbom); the result is an image index' },
  { name: 'attest', kind: 'multi', supported: true, extension: true, help: 'type=sbom or type=provenance[,mode=min|max]: an attestation to attach, as buildx --attest (repeatable)' },
  { name: 'provenance', kind: 'string', supported: true, extension: true, help: 'mode=min|max (or true/false): attach SLSA v0.2 provenance (off unless asked)' },
  { name: 'oci-layout-path', kind: 'string', supported: true, help: 'Also write the image as an OCI layout here' },
  { name: 'compression', kind: 'string', supported: true, help: 'Layer compression: gzip or zstd' },
  { name: 'compression-level', kind: 'int', default: -1, supported: true, help: 'Compression level (when > 0; otherwise 1, as kaniko: gzip.BestSpeed)' },
  { name: 'compressed-caching', kind: 'bool', default: true, supported: true, help: 'Accepted for compatibility: compressed layers always go to disk, never memory' },
  { name: 'cleanup', kind: 'bool', default: false, supported: true, help: 'Remove the built filesystem at the end' },
  { name: 'ignore-var-run', kind: 'bool', default: true, supported: true, help: 'Ignore /var/run in snapshots' },
  { name: 'whitelist-var-run', kind: 'bool', aliasOf: 'ignore-var-run', supported: true, hidden: true, help: 'Deprecated: use --ignore-var-run' },
  { name: 'label', kind: 'multi', supported: true, help: 'key=value label for the image (repeatable)' },
  { name: 'skip-unused-stages', kind: 'bool', default: false, supported: true, help: 'Build only the stages the target needs' },
  { name: 'max-parallel-stages', kind: 'int', supported: true, extension: true, help: 'Independent stages built at once (default: the CPU count, at least 2; 1: one after another)' },
  { name: 'use-new-run', kind: 'bool', default: false, supported: true, help: 'Accepted for compatibility: change detection is always stat-first' },
  { name: 'git', kind: 'multi', supported: true, help: 'Git context option: branch=, single-branch=, recurse-submodules=, insecure-skip-tls=, depth=' },
  { name: 'ignore-path', kind: 'multi', supported: true, help: 'Path to leave out of snapshots and extraction (repeatable)' },
  { name: 'force-build-metadata', kind: 'bool', default: false, supported: true, help: 'Snapshot metadata-only instructions too' },
  { name: 'check', kind: 'bool', default: false, supported: true, extension: true, help: "Run BuildKit's build checks without building; exit 1 when any fires" },
  { name: 'check-skip', kind: 'string', supported: true, extension: true, help: 'Build checks to skip: Rule1,Rule2 or all (adds to # check=skip= and BUILDKIT_DOCKERFILE_CHECK)' },
  { name: 'skip-push-permission-check', kind: 'bool', default: false, supported: true, help: 'Skip the push-permission check before the build' },
];

/** `executor index --destination=REF SRC_REF…`: assembles an OCI index from images already pushed. */
export const indexFlags: readonly FlagSpec[] = [
  ...logFlags,
  { name: 'destination', short: 'd', kind: 'multi', supported: true, help: 'Where to push the index (repeatable)' },
  { name: 'digest-file', kind: 'string', supported: true, help: "Write the index's digest to this file" },
  { name: 'annotation', kind: 'multi', supported: true, help: 'index:KEY=VALUE or manifest-descriptor:KEY=VALUE annotation (repeatable)' },
  { name: 'push-retry', kind: 'int', default: 0, supported: true, help: 'Retries of a failed push' },
  { name: 'image-download-retry', kind: 'int', default: 0, supported: true, help: 'Retries of a failed source read' },
  { name: 'kaniko-dir', kind: 'string', default: '/kaniko', env: 'KANIKO_DIR', supported: true, help: "The executor's own directory (its .docker/config.json)" },
  ...registryFlags,
];

export const warmerFlags: readonly FlagSpec[] = [
  ...logFlags,
  { name: 'image', short: 'i', kind: 'multi', supported: true, help: 'Image to cache (repeatable)' },
  { name: 'cache-dir', short: 'c', kind: 'string', default: '/cache', supported: true, help: 'Cache directory' },
  { name: 'force', short: 'f', kind: 'bool', default: false, supported: true, help: 'Overwrite cached images' },
  { name: 'cache-ttl', kind: 'duration', default: '336h', supported: true, help: 'Maximum age of cache entries (an expired entry is renewed)' },
  { name: 'dockerfile', short: 'd', kind: 'string', supported: true, help: 'Warm every FROM image of this Dockerfile (not scratch, not stages)' },
  { name: 'build-arg', kind: 'multi', supported: true, help: 'K=V for FROM expansion; a bare K takes its value from the environment (repeatable)' },
  // kaniko's warmer spells it in camelCase only; the executor's spelling is accepted too (same flag, no warning).
  { name: 'customPlatform', kind: 'string', supported: true, help: 'Platform os/arch[/variant] (default: this host)' },
  { name: 'custom-platform', kind: 'string', supported: true, extension: true, help: 'Same as --customPlatform' },
  // The pull-side registry flags of the executor; the warmer never pushes, so --insecure (push-only) is not one.
  ...registryFlags
    .filter((f) => f.name !== 'insecure')
    // kaniko's warmer reads KANIKO_REGISTRY_MAP but not KANIKO_REGISTRY_MIRROR.
    .map((f): FlagSpec => (f.name === 'registry-mirror' ? { name: f.name, kind: f.kind, supported: true, help: f.help } : f)),
];
