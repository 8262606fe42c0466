#!/usr/bin/env bash
# Fleet migration benchmark: N local databases (default 200) migrated with
# `d1kit migrate --local` against a loop of `wrangler d1 migrations apply --local` (npm
# wrangler, one process per database, as wrangler has no "apply to all"), both in one run, on
# the same project: 5 migrations, the same SQLite files wrangler's local mode uses.
# Prints databases per second for both and the ratio. Slow (wrangler starts Node and workerd
# for every database): it is not part of .ci/run; its output is quoted in the README.
#
# Usage: scripts/bench-fleet.sh [N]       (needs Rust, Node >= 20, npm)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n="${1:-200}"

# shellcheck source=scripts/tools.sh
. scripts/tools.sh
install_wrangler

# D1KIT_BENCH_PROFILE=dev measures the debug build (no release build to wait for; slower d1kit).
profile="${D1KIT_BENCH_PROFILE:-release}"
step "building d1kit ($profile)"
cargo build --profile "$profile" -q -p d1-cli
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
d1kit="${CARGO_TARGET_DIR:-$root/target}/$dir/d1kit"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME="$work/config"
project="$work/app"
mkdir -p "$project/migrations/users" "$project/src"
cat >"$project/Cargo.toml" <<TOML
[package]
name = "bench"
version = "0.0.0"
edition = "2021"

[package.metadata.d1kit.databases.users]
migrations = "migrations/users"
binding = "USERS"
shards = $n
TOML
touch "$project/src/lib.rs"
cat >"$project/wrangler.toml" <<TOML
name = "bench"
main = "index.js"
compatibility_date = "2025-01-01"
TOML
m="$project/migrations/users"
echo "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);" >"$m/0001_users.sql"
echo "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL REFERENCES users (id), body TEXT);" >"$m/0002_notes.sql"
echo "CREATE INDEX notes_owner ON notes (owner);" >"$m/0003_index.sql"
echo "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;" >"$m/0004_pinned.sql"
printf "CREATE TABLE tags (name TEXT PRIMARY KEY);\nINSERT INTO tags VALUES ('inbox');\n" >"$m/0005_tags.sql"
"$d1kit" config --manifest-path "$project/Cargo.toml" >/dev/null

now() { date +%s.%N; }

step "d1kit migrate --local: $n databases"
t0=$(now)
"$d1kit" migrate --local --manifest-path "$project/Cargo.toml" --persist-to "$work/d1kit-state" >"$work/d1kit.log" 2>&1 \
  || { cat "$work/d1kit.log"; exit 1; }
t1=$(now)
tail -n 1 "$work/d1kit.log"

step "wrangler d1 migrations apply --local, once per database: $n databases"
t2=$(now)
for ((i = 0; i < n; i++)); do
  (cd "$project" && "$wrangler" d1 migrations apply "USERS_$i" --local --persist-to "$work/wrangler-state" >"$work/wrangler-$i.log" 2>&1) \
    || { cat "$work/wrangler-$i.log"; exit 1; }
done
t3=$(now)

# Both made one database file per binding (miniflare also keeps a metadata.sqlite of its own,
# hence the 64-hex-digit names).
for state in d1kit-state wrangler-state; do
  count=$(find "$work/$state" -regextype posix-extended -regex '.*/[0-9a-f]{64}\.sqlite' | wc -l)
  [ "$count" -eq "$n" ] || { echo "$state holds $count databases, expected $n" >&2; exit 1; }
done

awk -v n="$n" -v a="$(echo "$t1 - $t0" | bc)" -v b="$(echo "$t3 - $t2" | bc)" 'BEGIN {
  printf "\nfleet of %d local databases, 5 migrations each:\n", n
  printf "  d1kit migrate --local:                 %8.2f s  %8.1f databases/s\n", a, n / a
  printf "  wrangler d1 migrations apply (loop):   %8.2f s  %8.1f databases/s\n", b, n / b
  printf "  ratio: d1kit is %.0fx faster\n", b / a
}'
