#!/usr/bin/env bash
# Build from a context streamed on standard input: the directory is packed with tar and gzip on the host and
# piped into `docker run -i`, and the executor reads it with --context=tar://stdin. Nothing is mounted but the
# registry credentials (~/.docker/config.json, read-only, where the executor looks for it).
#
#   examples/docker-run-stdin.sh <context dir> <destination>
#   KANIKO_IMAGE=... examples/docker-run-stdin.sh ./app registry.example.com/team/app:1.0
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <context dir> <destination>" >&2
  exit 2
fi
context=$1
destination=$2
if [[ ! -d $context ]]; then
  echo "$0: context directory '$context' does not exist" >&2
  exit 2
fi

image=${KANIKO_IMAGE:-registry.example.com/kaniko-ts/executor:latest}
docker_config=${DOCKER_CONFIG:-$HOME/.docker}/config.json

docker_args=(run --interactive --rm)
if [[ -f $docker_config ]]; then
  docker_args+=(--volume "$docker_config:/kaniko/.docker/config.json:ro")
fi

executor_args=(
  --context=tar://stdin
  --dockerfile=Dockerfile
  "--destination=$destination"
)

tar -C "$context" -czf - . | docker "${docker_args[@]}" "$image" "${executor_args[@]}"
