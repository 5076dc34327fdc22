# Shared by the scripts: paths, tool versions, and the offline build environment.
# Source it; do not run it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROOT
cd "$ROOT"

# Versions that must agree with Cargo.lock / package-lock.json.
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock 2>/dev/null | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# worker-build would download these; point it at registry-installed ones instead.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
# Quiet, offline wrangler.
export WRANGLER_SEND_METRICS=false
export SPIN_COMPONENT="$CARGO_TARGET_DIR/wasm32-wasip2/release/edge_gateway_spin.wasm"
export WORKER_WASM="$ROOT/edge-gateway/workers/build/index_bg.wasm"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Installs what is missing; skips what is already there at the right version.
install_tools() {
  step "install: rust targets"
  rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null 2>&1 \
    || rustup target list --installed | grep -q wasm32-wasip2
  rustup component add rustfmt clippy >/dev/null 2>&1 || true

  # pingora-core builds zlib-ng through cmake.
  if ! have cmake; then
    step "install: cmake (Debian package, for the origin shield's zlib-ng)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq cmake >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq cmake >/dev/null; fi
  fi

  # The status page's e2e test drives a real headless browser: Debian's chromium package only.
  if ! have chromium; then
    step "install: chromium (Debian package, for the status page's browser test)"
    if [ "$(id -u)" = 0 ]; then
      { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed: the browser test will skip"
    else
      { sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed: the browser test will skip"
    fi
  fi

  if [ "$(worker-build --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]; then
    step "install: worker-build $WORKER_BUILD_VERSION (takes a while, once)"
    cargo install worker-build --version "=$WORKER_BUILD_VERSION"
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$" \
     || ! have wasm-bindgen-test-runner; then
    step "install: wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes a while, once)"
    # not --locked: that fails to resolve webpki-roots offline
    cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
  fi
  if [ ! -x "$ESBUILD_BIN" ] || [ ! -x node_modules/.bin/wrangler ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "install: npm packages from package-lock.json"
    npm ci --no-audit --no-fund
  fi
}

# Builds every artifact the end-to-end tests and the dev server run.
build_all() {
  step "build: Worker (worker-build --release)"
  (cd edge-gateway/workers && worker-build --release)
  step "build: Spin component (wasm32-wasip2, release)"
  cargo build -p edge-gateway-spin --target wasm32-wasip2 --release
  step "build: origin shield, Spin test host, gatewayctl"
  cargo build -p origin-shield -p spin-test-host -p gatewayctl
}

size_report() {
  for f in "$WORKER_WASM" "$SPIN_COMPONENT"; do
    [ -f "$f" ] || continue
    printf '%s: %s bytes raw, %s bytes gzip\n' "${f#"$ROOT"/}" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
  done
}
