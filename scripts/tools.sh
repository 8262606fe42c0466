# Shared by scripts/e2e-worker.sh and scripts/bench-fleet.sh (sourced, from the repository
# root): the tool cache and its installers. Tools are installed on first use into
# $D1KIT_TOOLS (default ~/.cache/d1kit-tools), one directory per tool and version, atomically
# (into a temporary directory, then renamed), and reused after: only the package registries are
# needed (crates.io, npm).

WORKER_BUILD_VERSION=0.8.7
WRANGLER_VERSION=4.86.0
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

# npm wrangler, pinned; sets $wrangler_dir and $wrangler.
install_wrangler() {
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
