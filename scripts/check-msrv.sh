#!/usr/bin/env bash
# The declared rust-version (MSRV) of every crate that is published (no `publish = false`),
# checked without the old toolchain itself:
#
# - each published crate declares a rust-version, and its edition is one that Rust accepts
#   (2024 needs 1.85);
# - every crate it builds with (normal and build dependencies, transitively, all targets, its
#   default features and then all of them, at the versions Cargo.lock resolves) declares a
#   rust-version no newer than the published crate's. Dev-dependencies are listed as notes
#   only (they build the tests, not the crate); `--dev` makes them count.
#
# The crates' own code is checked by clippy's `incompatible_msrv` lint (on by default, it
# reads rust-version), which `cargo clippy ... -D warnings` in .ci/run turns into an error:
# a std API stabilized after the MSRV fails CI there. Neither check sees a *language* feature
# stabilized after the MSRV; only a build with that toolchain would.
#
# Exit status: 0 fits, 1 a violation (each named: the dependency, its version, the Rust it
# needs, the chain that pulls it in and the published crates that build it), 2 the check
# itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
case "${1:-}" in
  --dev) dev=1 ;;
  "") ;;
  *) echo "usage: scripts/check-msrv.sh [--dev]" >&2; exit 2 ;;
esac

metadata="$(mktemp)"
trap 'rm -f "$metadata"' EXIT
# Every package of the lock file (all features, all targets) with its rust-version; which of
# them each published crate builds with comes from `cargo tree`, crate by crate (so that one
# crate's features are not counted against another).
cargo metadata --format-version 1 --all-features >"$metadata" || exit 2

set +e
python3 - "$metadata" "$dev" <<'EOF'
import json
import re
import subprocess
import sys

meta = json.load(open(sys.argv[1]))
count_dev = sys.argv[2] == "1"
rust_of = {(p["name"], p["version"]): p.get("rust_version") for p in meta["packages"]}
pkgs = {p["id"]: p for p in meta["packages"]}
published = [pkgs[i] for i in meta["workspace_members"] if pkgs[i].get("publish") != []]

# The Rust that first accepted each edition.
EDITION_RUST = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}
KINDS = ["default", "feature", "dev"]
WHY = {
    "default": "",
    "feature": " with non-default features",
    "dev": " (a dev-dependency: the tests need it, not the crate)",
}


def ver(s):
    parts = [int(x) for x in s.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def tree(name, features, edges):
    """{(name, version): the chain from the crate} of every package `cargo tree` lists for
    the crate: all targets, the given features and edge kinds."""
    try:
        out = subprocess.run(
            ["cargo", "tree", "-q", "-p", name, *features, "-e", edges, "--target", "all",
             "--prefix", "depth", "-f", "{p}"],
            check=True, capture_output=True, text=True,
        ).stdout
    except subprocess.CalledProcessError as e:
        sys.stderr.write(e.stderr)
        sys.exit(2)
    stack, found = [], {}
    for line in out.splitlines():
        m = re.match(r"^(\d+)(\S+) v(\S+)", line)
        if not m:
            continue
        depth, key = int(m.group(1)), (m.group(2), m.group(3))
        del stack[depth:]
        stack.append(key[0])
        found.setdefault(key, " -> ".join(stack))
    return found


errors, notes = [], []
too_new = {}  # (name, version) -> {rust, kind, chain, crates}
for p in published:
    name, rv = p["name"], p.get("rust_version")
    if not rv:
        errors.append(f"{name} {p['version']} declares no rust-version")
        continue
    edition_rust = EDITION_RUST.get(p["edition"], "?")
    if edition_rust == "?" or ver(edition_rust) > ver(rv):
        errors.append(
            f"{name}: edition {p['edition']} needs Rust {edition_rust}, "
            f"newer than its rust-version {rv}"
        )
    default = tree(name, [], "normal,build")
    every = tree(name, ["--all-features"], "normal,build")
    with_dev = tree(name, ["--all-features"], "normal,build,dev")
    for key, chain in with_dev.items():
        need = rust_of.get(key)
        if key[0] == name or not need or ver(need) <= ver(rv):
            continue
        kind = "default" if key in default else "feature" if key in every else "dev"
        chain = default.get(key) or every.get(key) or chain
        e = too_new.setdefault(key, {"rust": need, "kind": kind, "chain": chain, "crates": []})
        if KINDS.index(kind) < KINDS.index(e["kind"]):
            e.update(kind=kind, chain=chain)
        e["crates"].append(f"{name} {rv}")

newest = {}
for key, e in sorted(too_new.items(), key=lambda kv: (ver(kv[1]["rust"]), kv[0]), reverse=True):
    text = (
        f"{key[0]} {key[1]} needs Rust {e['rust']}{WHY[e['kind']]}: {e['chain']}"
        f"  [built by: {', '.join(e['crates'])}]"
    )
    if e["kind"] == "dev" and not count_dev:
        notes.append(text)
        continue
    errors.append(text)
    if e["kind"] not in newest or ver(e["rust"]) > ver(newest[e["kind"]]):
        newest[e["kind"]] = e["rust"]

for n in notes:
    print("note: " + n)
if errors:
    for e in errors:
        print("error: " + e, file=sys.stderr)
    if newest:
        what = {"default": "default features", "feature": "all features", "dev": "dev-dependencies"}
        print(
            "\nerror: the published crates build with dependencies that need a newer Rust than "
            "their rust-version; the newest needed: "
            + ", ".join(f"{newest[k]} ({what[k]})" for k in KINDS if k in newest)
            + ".\n  Where an older version of a dependency fits its requirement, "
            "`CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo update` picks it;\n"
            "  otherwise lower the requirement in Cargo.toml, or raise rust-version.",
            file=sys.stderr,
        )
    sys.exit(1)

names = ", ".join(f"{p['name']} {p['rust_version']}" for p in published)
print(f"msrv: ok ({names}; every normal and build dependency, all features, all targets)")
EOF
status=$?
exit "$status"
