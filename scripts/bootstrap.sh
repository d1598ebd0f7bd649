#!/usr/bin/env bash
# Installs everything Oratio needs on a fresh machine, and skips what is already there:
#   1. finds a Python >= 3.12 interpreter (PYTHON=..., python3.13/3.12/python3, pyenv versions);
#   2. creates .venv and installs the pinned requirements (re-installs only when they change);
#   3. installs the CDK CLI pinned in package.json (aws-cdk@2) with npm;
#   4. builds the Lambda dependency layer for python3.12/arm64 from wheels (no Docker), with byte-code;
#   5. vendors the AgentCore Runtime dependencies for python3.12/arm64 the same way;
#   6. builds the vendor console (console/: `npm ci` from its lockfile, then `vite build` into console/dist);
#   7. installs Debian's chromium for the console's browser tests when it is missing and apt-get can.
# Each vendored folder gets a `<folder>.stamp` beside it (the hash of its pins and recipe): synth uses it as
# the folder's asset hash instead of fingerprinting its thousands of files.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMPS=.venv/.oratio-stamps
LAYER_DIR=build/layers/deps
AGENTCORE_DEPS_DIR=build/agentcore/deps

say() { printf '[setup] %s\n' "$*"; }

# pip on some machines warns about configured find-links folders that do not exist; that is noise here.
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

is_py312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

# Prefers 3.12 (the Lambda / AgentCore runtime), then any newer 3.x.
find_python() {
  local candidates=() pyenv_root=""
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  command -v pyenv >/dev/null 2>&1 && pyenv_root=$(pyenv root)
  candidates+=(python3.12)
  [ -n "$pyenv_root" ] && candidates+=($(ls -1d "$pyenv_root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -rV))
  candidates+=(python3.13 python3.14 python3)
  [ -n "$pyenv_root" ] && candidates+=($(ls -1d "$pyenv_root"/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -rV))
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && is_py312 "$c"; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
# How a vendored folder is built, beside its pins: a change here rebuilds every folder once.
# 2: byte-code compiled for python3.12 (stacks/bytecode.py), kept in the folder.
BUILD_RECIPE=2
build_hash() { (cat "$@"; echo "recipe $BUILD_RECIPE") | sha256sum | cut -c1-16; }
# Byte-code for the runtime (python3.12), reproducible; the stamp beside the folder is its asset hash at synth.
compile_and_stamp() { "$VENV/bin/python" -m stacks.bytecode "$1"; echo "$2" >"$1.stamp"; }

stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

if [ ! -x "$VENV/bin/python" ] || ! is_py312 "$VENV/bin/python"; then
  if ! PY=$(find_python); then
    cat >&2 <<'EOF'
[setup] ERROR: no Python 3.12 or newer was found.
        Oratio targets Lambda python3.12 / AgentCore PYTHON_3_12 and needs Python >= 3.12.
        Install one, then run this command again, for example:
          pyenv install 3.12 && pyenv local 3.12     (pyenv)
          sudo apt-get install python3.12 python3.12-venv   (Debian/Ubuntu with 3.12 packaged)
        or point at an interpreter explicitly:  PYTHON=/path/to/python3.12 make test
EOF
    exit 1
  fi
  say "creating $VENV with $PY ($("$PY" --version 2>&1))"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"

req_hash=$(hash_of requirements.txt requirements-dev.txt)
if stamp_ok requirements "$req_hash"; then
  say "Python requirements already installed"
else
  say "installing pinned Python requirements into $VENV"
  pip_install --upgrade pip
  pip_install -r requirements-dev.txt
  echo "$req_hash" >"$STAMPS/requirements"
fi

npm_hash=$(hash_of package.json package-lock.json)
if [ -x node_modules/.bin/cdk ] && stamp_ok npm "$npm_hash"; then
  say "CDK CLI already installed ($(node_modules/.bin/cdk --version 2>/dev/null | head -1))"
else
  command -v npm >/dev/null 2>&1 || { echo "[setup] ERROR: npm not found; install Node.js 20+ (https://nodejs.org)" >&2; exit 1; }
  say "installing the pinned CDK CLI (aws-cdk@2) with npm"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" >"$STAMPS/npm"
fi

layer_hash=$(build_hash lambdas/requirements.txt)
if [ -d "$LAYER_DIR/python" ] && [ -f "$LAYER_DIR.stamp" ] && stamp_ok layer "$layer_hash"; then
  say "Lambda dependency layer already built"
else
  say "building the Lambda dependency layer (python3.12, arm64 wheels)"
  rm -rf "$LAYER_DIR"
  pip_install \
    --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
    --only-binary=:all: --no-deps --target "$LAYER_DIR/python" -r lambdas/requirements.txt
  # Byte-code pip wrote (for this machine's paths) is replaced by reproducible byte-code for the runtime.
  find "$LAYER_DIR" -name '__pycache__' -type d -prune -exec rm -rf {} +
  rm -rf "$LAYER_DIR/python/bin"
  compile_and_stamp "$LAYER_DIR" "$layer_hash"
  echo "$layer_hash" >"$STAMPS/layer"
fi

agentcore_hash=$(build_hash agentcore/requirements.txt)
if [ -d "$AGENTCORE_DEPS_DIR" ] && [ -f "$AGENTCORE_DEPS_DIR.stamp" ] && stamp_ok agentcore "$agentcore_hash"; then
  say "AgentCore dependencies already vendored"
else
  say "vendoring the AgentCore Runtime dependencies (python3.12, arm64 wheels)"
  rm -rf "$AGENTCORE_DEPS_DIR"
  # Resolved with dependencies (not --no-deps) so a pin missing from the file still gets installed.
  pip_install \
    --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
    --only-binary=:all: --target "$AGENTCORE_DEPS_DIR" -r agentcore/requirements.txt
  # Console scripts are dead weight in the code asset; pip's byte-code is replaced by the runtime's.
  rm -rf "$AGENTCORE_DEPS_DIR/bin"
  find "$AGENTCORE_DEPS_DIR" -name '__pycache__' -type d -prune -exec rm -rf {} +
  compile_and_stamp "$AGENTCORE_DEPS_DIR" "$agentcore_hash"
  echo "$agentcore_hash" >"$STAMPS/agentcore"
fi
# The voice bridge runtime needs Nova Sonic's SDK (smithy, awscrt) on top of the agent's packages:
# its own folder, so the tenant agent's artifact stays as small as it was.
BRIDGE_DEPS_DIR=build/agentcore/voice_bridge_deps
BRIDGE_REQUIREMENTS=agentcore/voice_bridge/requirements.txt
BRIDGE_CLIENTS=agentcore/voice_bridge/requirements-clients.txt
bridge_hash=$(build_hash agentcore/requirements.txt "$BRIDGE_REQUIREMENTS" "$BRIDGE_CLIENTS")
if [ -d "$BRIDGE_DEPS_DIR" ] && [ -f "$BRIDGE_DEPS_DIR.stamp" ] && stamp_ok bridge "$bridge_hash"; then
  say "voice bridge dependencies already vendored"
else
  say "vendoring the voice bridge runtime dependencies (python3.12, arm64 wheels)"
  rm -rf "$BRIDGE_DEPS_DIR"
  pip_install \
    --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
    --only-binary=:all: --target "$BRIDGE_DEPS_DIR" -r "$BRIDGE_REQUIREMENTS"
  # The generated SDK clients without their declared smithy-http[aiohttp]: the bridge only uses awscrt.
  pip_install \
    --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 \
    --only-binary=:all: --no-deps --target "$BRIDGE_DEPS_DIR" -r "$BRIDGE_CLIENTS"
  rm -rf "$BRIDGE_DEPS_DIR/bin"
  find "$BRIDGE_DEPS_DIR" -name '__pycache__' -type d -prune -exec rm -rf {} +
  compile_and_stamp "$BRIDGE_DEPS_DIR" "$bridge_hash"
  echo "$bridge_hash" >"$STAMPS/bridge"
fi

# The vendor console: a static bundle the platform stack deploys (and `make console` serves locally).
console_hash=$( (cat console/package.json console/package-lock.json console/index.html console/vite.config.ts \
  console/tsconfig.json; find console/src -type f | sort | xargs cat) | sha256sum | cut -c1-16)
if [ -f console/dist/index.html ] && [ -d console/node_modules ] && stamp_ok console "$console_hash"; then
  say "vendor console already built"
else
  command -v npm >/dev/null 2>&1 || { echo "[setup] ERROR: npm not found; install Node.js 20+ (https://nodejs.org)" >&2; exit 1; }
  say "building the vendor console (console/dist)"
  (cd console && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run --silent build >/dev/null)
  echo "$console_hash" >"$STAMPS/console"
fi

# The console's browser tests drive Debian's chromium (Playwright's own browser download is not used).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (Debian package) for the console's browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
      || say "WARNING: chromium could not be installed; the console's browser tests will fail saying how to install it"
  else
    say "WARNING: chromium is missing: install it (sudo apt-get install chromium) for the console's browser tests"
  fi
fi
say "ready"
