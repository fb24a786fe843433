#!/usr/bin/env bash
# Builds an image with the kaniko-ts executor image under a local Docker, with kaniko's run_in_docker.sh
# interface: the context directory is mounted at /workspace, your registry credentials
# (${DOCKER_CONFIG:-$HOME/.docker}/config.json) read-only at /kaniko/.docker/config.json, and the executor
# pushes to <destination>. The image is $KANIKO_IMAGE (default: the placeholder below).
#
#   ./run_in_docker.sh <path to Dockerfile in context> <context dir> <destination> [cache flags...]
#   ./run_in_docker.sh Dockerfile ./app registry.example.com/team/app:1.0 --cache=true --cache-ttl=24h
set -euo pipefail

usage() {
  cat >&2 <<USAGE
usage: $0 <path to Dockerfile in context> <context dir> <destination> [cache flags...]

  <path to Dockerfile in context>  e.g. Dockerfile or docker/app.Dockerfile, relative to the context
  <context dir>                    the build context, mounted at /workspace
  <destination>                    image reference to push, e.g. registry.example.com/team/app:1.0
  [cache flags...]                 --cache=true, --cache-repo=..., --cache-ttl=..., ... (or kaniko's bare true/false)

environment: KANIKO_IMAGE (default registry.example.com/kaniko-ts/executor:latest), DOCKER_CONFIG
USAGE
  exit 2
}

fail() {
  echo "$0: $*" >&2
  exit 2
}

[[ $# -ge 3 ]] || usage
dockerfile=$1
context=$2
destination=$3
shift 3

[[ -d $context ]] || fail "context directory '$context' does not exist"
# docker -v needs an absolute host path.
context=$(cd "$context" && pwd -P)

# The Dockerfile must be inside the context: only the context is mounted.
if [[ $dockerfile == /* ]]; then
  dockerfile_abs=$(cd "$(dirname "$dockerfile")" 2>/dev/null && pwd -P)/$(basename "$dockerfile") || true
  [[ $dockerfile_abs == "$context"/* ]] || fail "Dockerfile '$dockerfile' is not inside the context directory '$context'"
  dockerfile=${dockerfile_abs#"$context"/}
fi
[[ -f $context/$dockerfile ]] || fail "Dockerfile '$dockerfile' not found in the context directory '$context'"
[[ -n $destination && $destination != -* ]] || fail "destination '$destination' is not an image reference"

cache_args=()
for arg in "$@"; do
  case $arg in
    true | false) cache_args+=("--cache=$arg") ;; # kaniko's original fourth argument
    --cache | --cache=* | --cache-*) cache_args+=("$arg") ;;
    *) fail "'$arg' is not a cache flag (--cache, --cache-repo, --cache-ttl, ...)" ;;
  esac
done

image=${KANIKO_IMAGE:-registry.example.com/kaniko-ts/executor:latest}
docker_config=${DOCKER_CONFIG:-$HOME/.docker}/config.json

volumes=(--volume "$context:/workspace")
# Only when it exists: `docker run -v` would otherwise create an empty directory named config.json.
if [[ -f $docker_config ]]; then
  volumes+=(--volume "$docker_config:/kaniko/.docker/config.json:ro")
else
  echo "$0: no $docker_config; pushing without registry credentials" >&2
fi

exec docker run --rm "${volumes[@]}" "$image" \
  "--dockerfile=/workspace/$dockerfile" \
  --context=dir:///workspace \
  "--destination=$destination" \
  ${cache_args[@]+"${cache_args[@]}"}
