#!/usr/bin/env bash
# Quick start, command 2 (and what CI runs): install what the tests need, typecheck, run the whole suite.
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
apt_install docker-registry busybox-static attr skopeo umoci runc apache2-utils openssl git ca-certificates buildah debootstrap gcc libc6-dev python3 python3-seccomp openssh-client db5.3-util rpm
ensure_node24
"$PROJECT_ROOT/scripts/build-native.sh"
npm_install
cd "$PROJECT_ROOT"
# Tests reach nothing but loopback: keep the cloud SDKs from probing instance-metadata addresses.
export METADATA_SERVER_DETECTION=none AWS_EC2_METADATA_DISABLED=true
echo "== typecheck" >&2
npx tsc --noEmit -p .
echo "== tests" >&2
# Suites start their own registries on loopback; run files one at a time to keep the 2-core machine calm.
exec node --test --test-concurrency=1 --test-timeout=600000 'src/**/*.test.ts' 'test/**/*.test.ts'
