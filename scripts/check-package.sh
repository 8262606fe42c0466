#!/usr/bin/env bash
# The published crates (every workspace member without `publish = false`) as crates.io would
# get them: packaged, each package checked alone, and their documentation built with
# warnings as errors (a broken intra-doc link fails). Run by .ci/run; uses CARGO_TARGET_DIR
# (default target/).
#
#   scripts/check-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Every member without `publish = false`, packaged as `cargo publish` packages it, in one
# workspace invocation; a cargo warning (no description, an unused manifest key) fails too.
# --no-verify: instead of cargo's verification (a full build of each package, ~10 min cold
# here), the packages are unpacked into a workspace of their own (each other's path
# dependencies patched to the unpacked packages) and each is checked alone with its default
# features: a file left out of a package, or a feature a crate uses without declaring it, still
# fails, with check's cost, reusing the dependencies clippy just checked.
pkg_target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
pkg_ws="$pkg_target/package/ws"
rm -rf "$pkg_target/package"
unpublished=$(cargo metadata -q --no-deps --format-version 1 | python3 -c 'import json, sys
print(" ".join("--exclude=" + p["name"] for p in json.load(sys.stdin)["packages"] if p["publish"] == []))')
# shellcheck disable=SC2086 # one --exclude per word
cargo package --workspace $unpublished --no-verify --allow-dirty 2>&1 | tee /tmp/d1kit-ci-package.log
if grep -q "^warning" /tmp/d1kit-ci-package.log; then echo "cargo package warned: see above" >&2; exit 1; fi
mkdir -p "$pkg_ws"
pkg_crates=()
for crate in "$pkg_target"/package/*.crate; do
  tar -xzf "$crate" -C "$pkg_ws" --touch # now as mtimes: packaged files are always checked again
  pkg_crates+=("$(basename "$crate" .crate)")
done
{
  echo '[workspace]'
  echo 'resolver = "2"'
  printf 'members = [%s]\n' "$(printf '"%s", ' "${pkg_crates[@]}")"
  echo '[patch.crates-io]'
  for dir in "${pkg_crates[@]}"; do echo "${dir%-*} = { path = \"$dir\" }"; done
  echo '[profile.dev.package."*"]' # the repository's, so that clippy's dependencies are reused
  echo 'opt-level = 1'
} >"$pkg_ws/Cargo.toml"
cp Cargo.lock "$pkg_ws/"
for dir in "${pkg_crates[@]}"; do
  echo "checking the package ${dir}"
  CARGO_TARGET_DIR="$pkg_target" cargo check -q --manifest-path "$pkg_ws/Cargo.toml" -p "${dir%-*}"
done

echo "documentation of the published crates (rustdoc, warnings as errors)"
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps -p d1-codegen -p d1-macros -p d1kit \
  -p d1-runtime --features d1-runtime/local,d1-runtime/rest,d1-runtime/worker,d1-runtime/durable
