#!/usr/bin/env bash
# Compiles the native helpers (native/*.c) into $OUT (default <project>/.tools/bin). Idempotent and quick:
# a helper is rebuilt only when its source is newer than the binary. Needs gcc and libc6-dev (static libc).
#   run-in-root  RUN's chroot/namespace helper (src/sandbox)
#   fakeroot-supervisor  non-root RUN: fake root under ptrace + seccomp, the ownership table (src/sandbox)
#   launcher     starts Node through a kaniko runtime directory's own loader (scripts/assemble-kaniko-dir.ts)
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$PROJECT_ROOT/.tools/bin}"
mkdir -p "$OUT"
for name in run-in-root fakeroot-supervisor launcher; do
  src="$PROJECT_ROOT/native/$name.c"
  bin="$OUT/$name"
  # A helper may have more sources beside it: native/NAME-*.c and native/NAME.h.
  extra=()
  for f in "$PROJECT_ROOT/native/$name"-*.c; do [ -e "$f" ] && extra+=("$f"); done
  stale=0
  for f in "$src" "${extra[@]}" "$PROJECT_ROOT/native/$name.h"; do [ -e "$f" ] && [ "$f" -nt "$bin" ] && stale=1; done
  if [ ! -x "$bin" ] || [ "$stale" = 1 ]; then
    command -v gcc >/dev/null || { echo "build-native: gcc is needed (apt-get install -y gcc libc6-dev)" >&2; exit 1; }
    echo "build-native: compiling $bin" >&2
    # -s: the launcher ships in every executor image; symbols only add size.
    if ! gcc -O2 -static -s -Wall -Wextra -o "$bin.tmp" "$src" "${extra[@]}"; then
      # The supervisor is x86_64/aarch64 only (ptrace registers): elsewhere non-root RUN says it is missing.
      if [ "$name" = fakeroot-supervisor ]; then echo "build-native: $name not built for $(uname -m): non-root RUN unavailable" >&2; rm -f "$bin.tmp"; continue; fi
      exit 1
    fi
    mv -f "$bin.tmp" "$bin"
  fi
done
