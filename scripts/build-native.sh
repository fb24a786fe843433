#!/usr/bin/env bash
# Compiles the native helpers (native/*.c) into $OUT (default <project>/.tools/bin). Idempotent and quick:
# a helper is rebuilt only when its source is newer than the binary. Needs gcc and libc6-dev (static libc).
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$PROJECT_ROOT/.tools/bin}"
mkdir -p "$OUT"
src="$PROJECT_ROOT/native/run-in-root.c"
bin="$OUT/run-in-root"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
  command -v gcc >/dev/null || { echo "build-native: gcc is needed (apt-get install -y gcc libc6-dev)" >&2; exit 1; }
  echo "build-native: compiling $bin" >&2
  gcc -O2 -static -Wall -Wextra -o "$bin.tmp" "$src"
  mv -f "$bin.tmp" "$bin"
fi
