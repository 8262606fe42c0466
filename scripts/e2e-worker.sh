#!/usr/bin/env bash
# The Worker end-to-end test: builds examples/worker to wasm, serves it in real workerd
# (npm wrangler's local mode) on 127.0.0.1, and drives it over HTTP (tests/worker_e2e.rs).
# Also compares the wasm size of the d1kit Worker with the same handler on raw workers-rs, and
# fails above 1.10 times.
#
# Tools are installed on first use into $D1KIT_TOOLS (default ~/.cache/d1kit-tools), one
# directory per tool and version, and reused after: only the package registries are needed
# (worker-build and wasm-bindgen-cli from crates.io, wrangler from npm).
#
# Usage: scripts/e2e-worker.sh            (needs Rust, Node and npm; wrangler needs Node >= 22.12,
#                                         installed into the tool cache from npm when older)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# shellcheck source=scripts/tools.sh
. scripts/tools.sh
# wasm-bindgen-cli must match the wasm-bindgen the Worker locked.
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' examples/worker/Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')

if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
fi
cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
install_wrangler
export WASM_BINDGEN_BIN="$tools/wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
export ESBUILD_BIN="$wrangler_dir/node_modules/.bin/esbuild"

work=$(mktemp -d)
export XDG_CONFIG_HOME="$work/config"
dev_pid=""
# The reshard step edits examples/worker's Cargo.toml and wrangler.toml: kept here, put back.
cp examples/worker/Cargo.toml "$work/Cargo.toml.orig"
cp examples/worker/wrangler.toml "$work/wrangler.toml.orig"
stop_dev() {
  if [ -n "$dev_pid" ]; then kill "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  dev_pid=""
}
cleanup() {
  stop_dev
  cp "$work/Cargo.toml.orig" examples/worker/Cargo.toml
  cp "$work/wrangler.toml.orig" examples/worker/wrangler.toml
  # The durable steps add migrations to examples/durable between builds: taken out again.
  rm -f examples/durable/migrations/0003_pinned.sql examples/durable/migrations/0004_tags.sql
  rm -rf "$work"
}
trap cleanup EXIT

build_worker() { # directory
  (cd "$1" && "$tools/worker-build-$WORKER_BUILD_VERSION/bin/worker-build" --release 2>&1 | grep -E "error|warning: unused|Finished" || true)
  [ -s "$1/build/index_bg.wasm" ] || { echo "worker-build produced no wasm in $1/build" >&2; exit 1; }
}

step "building examples/worker to wasm (worker-build --release)"
build_worker examples/worker

step "wrangler deploy --dry-run accepts examples/worker/wrangler.toml"
(cd examples/worker && "$wrangler" deploy --dry-run --outdir "$work/dry-run" >"$work/dry-run.log" 2>&1) \
  || { cat "$work/dry-run.log"; exit 1; }
for n in 0 1 2 3; do
  grep -q "env.USERS_$n " "$work/dry-run.log" || { cat "$work/dry-run.log"; echo "binding USERS_$n missing" >&2; exit 1; }
done
grep -E "^env\." "$work/dry-run.log"

step "migrating the 4 shards with wrangler d1 migrations apply --local"
state="$work/state"
for n in 0 1 2 3; do
  (cd examples/worker && "$wrangler" d1 migrations apply "USERS_$n" --local --persist-to "$state" >"$work/migrate-$n.log" 2>&1) \
    || { cat "$work/migrate-$n.log"; exit 1; }
done

step "d1kit migrate --local: the directory's tables, the routing size recorded (4)"
cargo build --workspace --bin d1kit --quiet
d1kit="$root/target/debug/d1kit"
"$d1kit" migrate --local --persist-to "$state" --manifest-path examples/worker/Cargo.toml >"$work/d1kit-migrate.log" 2>&1 \
  || { cat "$work/d1kit-migrate.log"; exit 1; }

serve() { # [directory [state]]
  local dir=${1:-examples/worker} persist=${2:-$state}
  step "serving $dir: wrangler dev --local on 127.0.0.1"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$dir" && exec "$wrangler" dev --local --ip 127.0.0.1 --port "$port" --persist-to "$persist" >"$work/dev.log" 2>&1) &
  dev_pid=$!
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    if ! kill -0 "$dev_pid" 2>/dev/null; then cat "$work/dev.log"; echo "wrangler dev exited" >&2; exit 1; fi
    sleep 0.5
  done
  curl -s -o /dev/null "http://127.0.0.1:$port/" || { cat "$work/dev.log"; echo "wrangler dev did not answer" >&2; exit 1; }
}

e2e_test() { # test name [test file]
  D1KIT_E2E_URL="http://127.0.0.1:$port" D1KIT_E2E_STATE="$state" D1KIT_BIN="$d1kit" \
    D1KIT_E2E_MANIFEST="$root/examples/worker/Cargo.toml" \
    D1KIT_E2E_MIGRATIONS="$root/examples/durable/migrations" \
    cargo test --workspace --test "${2:-worker_e2e}" "$1" -- --ignored --exact --nocapture 2>&1 | tee "$work/test.log"
  status=${PIPESTATUS[0]}
  grep -E "^test result" "$work/test.log" || true
  if [ "$status" -ne 0 ]; then
    echo "--- wrangler dev log ---"; tail -40 "$work/dev.log"
    exit "$status"
  fi
}

serve
step "driving it over HTTP: cargo test --workspace --test worker_e2e (the features of the workspace build: no rebuild)"
e2e_test worker_end_to_end

step "wasm size: d1kit Worker vs the same handler on raw workers-rs"
build_worker benches/worker-raw
d1kit_size=$(stat -c %s examples/worker/build/index_bg.wasm)
raw_size=$(stat -c %s benches/worker-raw/build/index_bg.wasm)
python3 - "$d1kit_size" "$raw_size" <<'EOF'
import sys
d, r = int(sys.argv[1]), int(sys.argv[2])
print(f"examples/worker (d1kit): {d:>9,} bytes")
print(f"raw workers-rs:          {r:>9,} bytes")
print(f"ratio: {d / r:.3f} (target <= 1.10)")
if d / r > 1.10:
    sys.exit(f"the d1kit Worker is {d / r:.3f}x the raw one: over the 1.10 target")
EOF

step "growing the pool to 5 shards: shards = 5, worker-build (cargo build writes USERS_4), d1kit migrate"
stop_dev
sed -i 's/^shards = 4$/shards = 5/' examples/worker/Cargo.toml
build_worker examples/worker
grep -q 'binding = "USERS_4"' examples/worker/wrangler.toml || { echo "cargo build wrote no USERS_4 block" >&2; exit 1; }
# The id d1kit provision would have written (the other shards' ids follow the same pattern).
python3 - examples/worker/wrangler.toml <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'(binding = "USERS_4"\n(?:[^\[]*?\n)?database_id = ")[^"]*"', r'\g<1>00000000-0000-0000-0000-000000000004"', text)
open(path, "w").write(text)
PY
grep -A3 'binding = "USERS_4"' examples/worker/wrangler.toml
"$d1kit" migrate --local --persist-to "$state" --manifest-path examples/worker/Cargo.toml >"$work/d1kit-migrate.log" 2>&1 \
  || { cat "$work/d1kit-migrate.log"; exit 1; }
grep -q "still routed over 4" "$work/d1kit-migrate.log" || { cat "$work/d1kit-migrate.log"; echo "d1kit migrate did not keep the routing at 4 shards" >&2; exit 1; }
serve
step "d1kit reshard 4 -> 5 while the client writes and reads 40 users' notes through the Worker"
e2e_test worker_reshard

stop_dev

# One SQLite-backed Durable Object per user (examples/durable): built with two migrations, then
# rebuilt on the same state with a third, a broken fourth and the fourth fixed; every object
# migrates at its next request.
step "examples/durable: worker-build (cargo build writes the NOTES binding and its new_sqlite_classes migration)"
build_worker examples/durable
grep -q 'class_name = "UserNotes"' examples/durable/wrangler.toml \
  && grep -q 'new_sqlite_classes = \["UserNotes"\]' examples/durable/wrangler.toml \
  || { cat examples/durable/wrangler.toml; echo "cargo build did not write the Durable Object binding and migration" >&2; exit 1; }
durable_state="$work/durable-state"
serve examples/durable "$durable_state"
step "40 users, values, a failing batch and the admin route, over HTTP (tests/durable_e2e.rs)"
for t in durable_forty_users_each_see_only_their_own_notes \
         durable_integers_and_every_byte_round_trip_and_2_53_is_refused \
         durable_a_failing_batch_leaves_nothing \
         durable_objects_report_their_migrations_and_no_drift \
         durable_phase_seed; do
  e2e_test "$t" durable_e2e
done

step "wasm size: d1kit Durable Object Worker vs the same handler on raw workers-rs SqlStorage"
build_worker benches/durable-raw
# Reported, not enforced yet: the target is 1.10 and d1kit is above it (README, "One database
# per user in a Durable Object"). It fails only if it grows past 1.30.
python3 - "$(stat -c %s examples/durable/build/index_bg.wasm)" "$(stat -c %s benches/durable-raw/build/index_bg.wasm)" <<'EOF'
import sys
d, r = int(sys.argv[1]), int(sys.argv[2])
print(f"examples/durable (d1kit): {d:>9,} bytes")
print(f"raw workers-rs:           {r:>9,} bytes")
print(f"ratio: {d / r:.3f} (target <= 1.10, not met yet)")
if d / r > 1.30:
    sys.exit(f"the d1kit Durable Object Worker is {d / r:.3f}x the raw one: over 1.30")
EOF

durable_phase() { # migration file to add (phases/NAME as migrations/TARGET), test
  stop_dev
  cp "examples/durable/phases/$1" "examples/durable/migrations/$2"
  step "examples/durable rebuilt with migrations/$2 ($1), restarted on the same state"
  build_worker examples/durable
  serve examples/durable "$durable_state"
  e2e_test "$3" durable_e2e
}
durable_phase 0003_pinned.sql 0003_pinned.sql durable_phase_upgraded
durable_phase 0004_tags.broken.sql 0004_tags.sql durable_phase_broken
durable_phase 0004_tags.sql 0004_tags.sql durable_phase_fixed
stop_dev
rm -f examples/durable/migrations/0003_pinned.sql examples/durable/migrations/0004_tags.sql

# Nested ORM layouts (wrangler's `migrations_pattern`): d1kit and wrangler must agree on which
# files are migrations, their order and the names recorded in d1_migrations, both ways round.
for layout in drizzle-kit:APP prisma:BLOG; do
  crate="tests/layouts/${layout%%:*}" binding="${layout##*:}"
  step "$crate: d1kit migrate --local, then wrangler d1 migrations list --local has nothing pending"
  s1="$work/layout-${layout%%:*}-d1kit" s2="$work/layout-${layout%%:*}-wrangler"
  "$d1kit" migrate --local --persist-to "$s1" --manifest-path "$crate/Cargo.toml" >"$work/layout.log" 2>&1 \
    || { cat "$work/layout.log"; exit 1; }
  grep -q "0 → 3" "$work/layout.log" || { cat "$work/layout.log"; echo "d1kit did not apply the 3 migrations of $crate" >&2; exit 1; }
  (cd "$crate" && "$wrangler" d1 migrations list "$binding" --local --persist-to "$s1" >"$work/layout.log" 2>&1) \
    || { cat "$work/layout.log"; exit 1; }
  grep -q "No migrations to apply" "$work/layout.log" || { cat "$work/layout.log"; echo "wrangler sees pending migrations d1kit applied ($crate)" >&2; exit 1; }
  echo "wrangler: no migrations to apply"

  step "$crate: wrangler d1 migrations apply --local, then d1kit status shows every migration applied"
  (cd "$crate" && "$wrangler" d1 migrations apply "$binding" --local --persist-to "$s2" >"$work/layout.log" 2>&1) \
    || { cat "$work/layout.log"; exit 1; }
  "$d1kit" status --local --persist-to "$s2" --manifest-path "$crate/Cargo.toml" --format json >"$work/status.json" \
    || { cat "$work/status.json"; exit 1; }
  python3 - "$work/status.json" <<'PY'
import json, sys
db, = json.load(open(sys.argv[1]))["databases"]
assert (db["applied"], db["pending"], db["status"]) == (3, [], "up to date"), db
print(f"d1kit status: {db['applied']} applied, last {db['last_applied']}, {db['status']}")
PY
done
