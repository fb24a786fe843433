#!/usr/bin/env bash
# Quick start, command 1: install everything, then run the main job — build examples/hello into an image
# and print its digest. Needs no outside service: the base image is made here from Debian's busybox-static
# and pushed, with the example, to a registry started on loopback for the job.
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
apt_install docker-registry busybox-static attr ca-certificates gcc libc6-dev
ensure_node24
"$PROJECT_ROOT/scripts/build-native.sh"
npm_install
exec node "$PROJECT_ROOT/scripts/hello.ts" "$@"
