#!/usr/bin/env bash
# Cold build cost: a fresh `cargo build` (empty target directory, default dev profile, every
# dependency already downloaded) of the same small application written twice, on d1kit's
# `sql!` (local backend, the default features) and on sqlx's `query!` (sqlite + macros +
# runtime-tokio, default features off; tokio with `rt` only), both in one run, one build at a
# time. Each application applies the same 3 migrations to an in-memory SQLite database and
# runs the same 5 checked queries (2 INSERTs, an UPDATE, a SELECT with a join and parameters, a
# count), then prints what it read: both binaries are run after the builds, so the figures are
# for code that works.
#
# For each: the build's wall time and its CPU time (user + system of cargo and all it ran: less
# sensitive than wall time to what else a shared machine is doing), medians of REPS fresh
# builds (1 unless set), and what cargo compiled, counted from `--message-format=json`: one
# `compiler-artifact` message per rustc invocation ("units"; a package built for the host, for
# a proc macro or a build script, and again for the target counts twice), split into crates
# (libraries, proc macros, the binary) and build scripts (compiled; their runs are counted
# apart), and the distinct packages. Ratios d1kit/sqlx of each. The load average before each
# build is printed (on stderr): the times are those of whatever machine runs them.
#
# The timed builds run with --offline after an untimed `cargo fetch`, each into its own new
# CARGO_TARGET_DIR. sqlx's macros need a live database at compile time: DATABASE_URL points at
# a SQLite file created from the same migrations before sqlx is built (by the d1kit binary,
# `--schema FILE`: no python or sqlite3 needed).
#
# --timings: one more cold build of the d1kit application with `cargo build --timings`; prints
# its 10 slowest units, the time of the units TIMINGS_GROUP matches (extended regex on crate
# names; default: toml_edit and what only it pulls in), and the chain of units that ended the
# build (each started when the one before it, or its metadata, was done: the critical path
# as it happened), and keeps the HTML report.
#
#   scripts/bench-cold.sh                 # prints the table
#   REPS=3 scripts/bench-cold.sh          # median of 3 cold builds each
#   scripts/bench-cold.sh --timings       # and where the d1kit build's time goes
#
# Needs Rust and the crates.io registry (for the first `cargo fetch`). BENCH_COLD_DIR (default
# ${TMPDIR:-/tmp}/d1kit-bench-cold) holds the generated crates, the logs and the target
# directories (about 1.5 GB, left for inspection). JOBS sets cargo's -j (default: one job per
# core). OPT_MACROS=1 builds both crates' proc macros and build scripts optimized
# ([profile.dev.build-override] opt-level = 3). BUILD_RS=1 gives the d1kit application the
# build.rs the README recommends (d1-codegen as a build dependency calling
# `d1_codegen::build::configure()`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${BENCH_COLD_DIR:-${TMPDIR:-/tmp}/d1kit-bench-cold}"
REPS="${REPS:-1}"
TIMINGS=0
for arg in "$@"; do
  case "$arg" in
    --timings) TIMINGS=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "REPS must be a positive integer" >&2; exit 2; }
TIMINGS_GROUP="${TIMINGS_GROUP:-^(toml_edit|toml_writer|indexmap|equivalent)$}"
JOBS_ARG=()
[ -n "${JOBS:-}" ] && JOBS_ARG=(-j "$JOBS")
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR DATABASE_URL SQLX_OFFLINE RUSTC_WRAPPER \
  CARGO_BUILD_RUSTC_WRAPPER CARGO_INCREMENTAL
mkdir -p "$WORK"

step() { printf '==> %s\n' "$*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*load averages\{0,1\}: //'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  printf "%.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

PROFILE=""
if [ "${OPT_MACROS:-0}" = 1 ]; then
  PROFILE="[profile.dev.build-override]
opt-level = 3"
fi

# ---- the two applications ------------------------------------------------------------------
write_migrations() { # $1 = directory
  mkdir -p "$1"
  cat > "$1/0001_users.sql" <<'SQL'
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL
);
SQL
  cat > "$1/0002_notes.sql" <<'SQL'
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users (id),
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT '',
  pinned BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX notes_owner ON notes (owner_id);
SQL
  cat > "$1/0003_word_count.sql" <<'SQL'
ALTER TABLE notes ADD COLUMN word_count INTEGER NOT NULL DEFAULT 0;
SQL
}

manifest() { # $1 = name, $2 = dependency lines, $3 = extra manifest text
  cat <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$2

$3
TOML
}

A="$WORK/cold-d1kit"
B="$WORK/cold-sqlx"
rm -rf "$A" "$B"
mkdir -p "$A/src" "$B/src"
write_migrations "$A/migrations"
write_migrations "$B/migrations"

BUILD_DEPS=""
if [ "${BUILD_RS:-0}" = 1 ]; then # the README's build.rs: d1-codegen as a build dependency
  BUILD_DEPS="[build-dependencies]
d1-codegen = { path = \"$ROOT/d1-codegen\" }
"
  echo 'fn main() { d1_codegen::build::configure().unwrap_or_else(|e| panic!("{e}")); }' > "$A/build.rs"
fi
manifest cold-d1kit "d1kit = { path = \"$ROOT\" }" "$BUILD_DEPS
[package.metadata.d1kit.databases.app]
migrations = \"migrations\"
$PROFILE" > "$A/Cargo.toml"
# d1kit's own lock file: the versions its tests ran with.
cp "$ROOT/Cargo.lock" "$A/Cargo.lock"
cat > "$A/src/main.rs" <<'RS'
use d1kit::local::{self, block_on};
use d1kit::prelude::*;

#[derive(Database)]
struct App;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if let (Some("--schema"), Some(path)) = (args.next().as_deref(), args.next()) {
        // The file sqlx's macros check their queries against.
        local::Database::open(&path)?.migrate_to::<App>()?;
        return Ok(());
    }
    let db = local::Database::open_in_memory()?;
    let applied = db.migrate_to::<App>()?.applied.len();
    let user = block_on(
        sql!("INSERT INTO users (email, name) VALUES (?, ?)", "ada@example.com", "Ada").run(&db),
    )?
    .last_row_id;
    for (i, title) in ["Groceries", "Quarterly report", "Call the plumber"].iter().enumerate() {
        let note = block_on(
            sql!("INSERT INTO notes (owner_id, title) VALUES (?, ?)", user, *title).run(&db),
        )?
        .last_row_id;
        block_on(
            sql!(
                "UPDATE notes SET word_count = ?, pinned = ? WHERE id = ?",
                10 * i as i64,
                i == 1,
                note
            )
            .run(&db),
        )?;
    }
    let rows = block_on(
        sql!(
            "SELECT n.id, n.title, n.pinned, n.word_count, u.name FROM notes n
             JOIN users u ON u.id = n.owner_id
             WHERE n.owner_id = ? AND n.word_count >= ? ORDER BY n.id",
            user,
            10_i64
        )
        .all(&db),
    )?;
    let count = block_on(sql!("SELECT count(*) AS n FROM notes WHERE owner_id = ?", user).first(&db))?
        .map_or(0, |r| r.n);
    let read: Vec<String> = rows
        .iter()
        .map(|r| format!("#{} {:?} {} {} {}", r.id, r.title, r.pinned, r.word_count, r.name))
        .collect();
    println!("{applied} migrations, {count} notes; {}", read.join("; "));
    Ok(())
}
RS

manifest cold-sqlx 'sqlx = { version = "0.9", default-features = false, features = ["sqlite", "macros", "runtime-tokio"] }
tokio = { version = "1", default-features = false, features = ["rt"] }' "$PROFILE" > "$B/Cargo.toml"
cp "$ROOT/Cargo.lock" "$B/Cargo.lock" # the versions both share; cargo adds sqlx's own
cat > "$B/src/main.rs" <<'RS'
use sqlx::Connection;

const MIGRATIONS: [&str; 3] = [
    include_str!("../migrations/0001_users.sql"),
    include_str!("../migrations/0002_notes.sql"),
    include_str!("../migrations/0003_word_count.sql"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
    for m in MIGRATIONS {
        sqlx::raw_sql(m).execute(&mut db).await?;
    }
    let applied = MIGRATIONS.len();
    let user = sqlx::query!("INSERT INTO users (email, name) VALUES (?, ?)", "ada@example.com", "Ada")
        .execute(&mut db)
        .await?
        .last_insert_rowid();
    for (i, title) in ["Groceries", "Quarterly report", "Call the plumber"].iter().enumerate() {
        let note = sqlx::query!("INSERT INTO notes (owner_id, title) VALUES (?, ?)", user, *title)
            .execute(&mut db)
            .await?
            .last_insert_rowid();
        let (words, pinned) = (10 * i as i64, i == 1);
        sqlx::query!(
            "UPDATE notes SET word_count = ?, pinned = ? WHERE id = ?",
            words,
            pinned,
            note
        )
        .execute(&mut db)
        .await?;
    }
    let rows = sqlx::query!(
        "SELECT n.id, n.title, n.pinned, n.word_count, u.name FROM notes n
         JOIN users u ON u.id = n.owner_id
         WHERE n.owner_id = ? AND n.word_count >= ? ORDER BY n.id",
        user,
        10_i64
    )
    .fetch_all(&mut db)
    .await?;
    let count = sqlx::query!("SELECT count(*) AS n FROM notes WHERE owner_id = ?", user)
        .fetch_one(&mut db)
        .await?
        .n;
    let read: Vec<String> = rows
        .iter()
        .map(|r| format!("#{} {:?} {} {} {}", r.id, r.title, r.pinned, r.word_count, r.name))
        .collect();
    println!("{applied} migrations, {count} notes; {}", read.join("; "));
    Ok(())
}
RS

# ---- downloads, untimed ----------------------------------------------------------------------
for dir in "$A" "$B"; do
  step "cargo fetch ($(basename "$dir"))"
  cargo fetch --quiet --manifest-path "$dir/Cargo.toml"
done

# ---- the cold builds -------------------------------------------------------------------------
# cold_build DIR TARGET_DIR LOG [cargo args...]: one build into a new target directory; the
# JSON messages go to LOG, cargo's progress and diagnostics to LOG.err; prints its wall time
# and its CPU time (user + system, of cargo and every process it waited for), in seconds.
cold_build() {
  local dir="$1" target="$2" log="$3" TIMEFORMAT='%3R %3U %3S'
  shift 3
  rm -rf "$target"
  if ! { time CARGO_TARGET_DIR="$target" cargo build --offline --message-format=json-render-diagnostics \
    ${JOBS_ARG[@]+"${JOBS_ARG[@]}"} --manifest-path "$dir/Cargo.toml" "$@" > "$log" 2> "$log.err"; } \
    2> "$log.time"; then
    tail -n 40 "$log.err" >&2
    echo "build of $dir failed (all of cargo's output: $log.err)" >&2
    exit 1
  fi
  awk '{ gsub(/,/, "."); printf "%.2f %.2f\n", $1, $2 + $3 }' "$log.time"
}

# units LOG: units crates build-scripts build-script-runs packages
units() {
  local all scripts runs packages
  all=$(grep -c '"reason":"compiler-artifact"' "$1" || true)
  scripts=$(grep '"reason":"compiler-artifact"' "$1" | grep -c '"kind":\["custom-build"\]' || true)
  runs=$(grep -c '"reason":"build-script-executed"' "$1" || true)
  packages=$(grep '"reason":"compiler-artifact"' "$1" | sed 's/.*"package_id":"\([^"]*\)".*/\1/' |
    sort -u | wc -l)
  echo "$all $((all - scripts)) $scripts $runs $packages"
}

SCHEMA="$WORK/schema.sqlite"
a_wall=() a_cpu=() b_wall=() b_cpu=()
for rep in $(seq "$REPS"); do
  step "cold build $rep/$REPS: d1kit (load $(load))"
  read -r w c < <(cold_build "$A" "$WORK/target-d1kit" "$WORK/d1kit.json")
  a_wall+=("$w") a_cpu+=("$c")
  a_units=$(units "$WORK/d1kit.json")
  if [ "$rep" = 1 ]; then
    rm -f "$SCHEMA"
    "$WORK/target-d1kit/debug/cold-d1kit" --schema "$SCHEMA"
  fi
  step "cold build $rep/$REPS: sqlx (load $(load))"
  read -r w c < <(DATABASE_URL="sqlite://$SCHEMA" cold_build "$B" "$WORK/target-sqlx" "$WORK/sqlx.json")
  b_wall+=("$w") b_cpu+=("$c")
  b_units=$(units "$WORK/sqlx.json")
done
step "load after the builds: $(load)"

a_out=$("$WORK/target-d1kit/debug/cold-d1kit")
b_out=$("$WORK/target-sqlx/debug/cold-sqlx")
read -r a_all a_crates a_scripts a_runs a_pkgs <<< "$a_units"
read -r b_all b_crates b_scripts b_runs b_pkgs <<< "$b_units"
a_t=$(median "${a_wall[@]}") a_c=$(median "${a_cpu[@]}")
b_t=$(median "${b_wall[@]}") b_c=$(median "${b_cpu[@]}")
sqlx_version=$(grep -o '"package_id":"registry+[^"]*#sqlx@[0-9.]*"' "$WORK/sqlx.json" | head -n 1 |
  sed 's/.*@//; s/"//')

echo
echo "cold cargo build, dev profile$([ "${BUILD_RS:-0}" = 1 ] && echo ', d1kit with build.rs')$([ "${OPT_MACROS:-0}" = 1 ] && echo ', proc macros opt-level 3'), $(nproc 2>/dev/null || echo '?') cores, jobs ${JOBS:-default}; $([ "$REPS" = 1 ] && echo '1 build each' || echo "median of $REPS builds each")"
echo "  wall: the build's elapsed time; cpu: user + system time of cargo and all it ran"
echo "  units: rustc invocations (compiler-artifact messages) = crates + build scripts compiled"
printf '  %-22s %9s %9s %6s %7s %8s %8s %9s\n' "" "wall" "cpu" "units" "crates" "scripts" "bs runs" \
  "packages"
row() { printf '  %-22s %8.2fs %8.2fs %6d %7d %8d %8d %9d\n' "$@"; }
row "d1kit sql!$([ "${BUILD_RS:-0}" = 1 ] && echo ' + build.rs')" "$a_t" "$a_c" "$a_all" "$a_crates" \
  "$a_scripts" "$a_runs" "$a_pkgs"
row "sqlx $sqlx_version query!" "$b_t" "$b_c" "$b_all" "$b_crates" "$b_scripts" "$b_runs" "$b_pkgs"
awk -v at="$a_t" -v bt="$b_t" -v ac="$a_c" -v bc="$b_c" -v au="$a_all" -v bu="$b_all" \
  -v acr="$a_crates" -v bcr="$b_crates" -v as="$a_scripts" -v bs="$b_scripts" -v ap="$a_pkgs" \
  -v bp="$b_pkgs" 'BEGIN {
  printf "  %-22s %9.3f %9.3f %6.3f %7.3f %8.3f %8s %9.3f\n", "ratio d1kit/sqlx", at / bt, ac / bc,
    au / bu, acr / bcr, as / bs, "", ap / bp }'
if [ "$REPS" -gt 1 ]; then
  echo "  each build, wall: d1kit ${a_wall[*]} s; sqlx ${b_wall[*]} s"
  echo "  each build, cpu:  d1kit ${a_cpu[*]} s; sqlx ${b_cpu[*]} s"
fi
echo "  d1kit binary: $a_out"
echo "  sqlx binary:  $b_out"

# ---- where the d1kit build goes --------------------------------------------------------------
if [ "$TIMINGS" = 1 ]; then
  step "cold build with --timings: d1kit (load $(load))"
  read -r w c < <(cold_build "$A" "$WORK/target-d1kit-timings" "$WORK/d1kit-timings.json" --timings)
  html=$(ls -t "$WORK"/target-d1kit-timings/cargo-timings/cargo-timing-*.html 2>/dev/null | head -n 1 ||
    true)
  [ -n "$html" ] || html="$WORK/target-d1kit-timings/cargo-timings/cargo-timing.html"
  cp "$html" "$WORK/d1kit-timings.html"
  echo
  echo "cold build of the d1kit application with --timings: wall ${w} s, cpu ${c} s"
  echo "  (report: $WORK/d1kit-timings.html)"
  # UNIT_DATA in the report: one JSON object per unit; name, version, target, duration (s).
  sed -n '/UNIT_DATA = \[/,/^\];/p' "$html" | tr -d '\n' | sed $'s/},[[:space:]]*{/}\\\n{/g' |
    awk -v group="$TIMINGS_GROUP" '
      function field(k,   m) {
        if (match($0, "\"" k "\":[[:space:]]*\"[^\"]*\"")) {
          m = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":[[:space:]]*"/, "", m); sub(/"$/, "", m); return m
        }
        if (match($0, "\"" k "\":[[:space:]]*[-0-9.eE+]+")) {
          m = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":[[:space:]]*/, "", m); return m
        }
        return ""
      }
      function unblocks(k, how,   m, l, c, j) { # the units this one let start
        if (!match($0, "\"" k "\":[[:space:]]*\\[[^]]*\\]")) return
        m = substr($0, RSTART, RLENGTH); sub(/^[^[]*\[/, "", m); gsub(/[] \t]/, "", m)
        c = split(m, l, ",")
        for (j = 1; j <= c; j++) if (l[j] != "") { blocker[l[j]] = id[n]; via[l[j]] = how }
      }
      /"name"/ {
        gsub(/\\"/, "")  # escaped quotes (a binary target is `name "bin"`)
        n++; name[n] = field("name"); ver[n] = field("version"); tgt[n] = field("target")
        start[n] = field("start") + 0; dur[n] = field("duration") + 0; total += dur[n]
        sub(/^[[:space:]]+/, "", tgt[n]); seen[name[n] " " tgt[n]]++; feat[n] = ""
        id[n] = field("i"); at[id[n]] = n
        unblocks("unblocked_units", ""); unblocks("unblocked_rmeta_units", "its metadata")
        if (match($0, /"features":[[:space:]]*\[[^]]*\]/)) {
          feat[n] = substr($0, RSTART, RLENGTH); sub(/^"features":[[:space:]]*\[/, "", feat[n])
          gsub(/[][" \t]/, "", feat[n])
        }
        if (name[n] ~ group) { gsum += dur[n]; glist = glist " " name[n] }
      }
      END {
        for (i = 1; i <= n; i++) ord[i] = i
        for (i = 2; i <= n; i++) for (j = i; j > 1 && dur[ord[j]] > dur[ord[j - 1]]; j--) {
          t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t
        }
        printf "  10 slowest of %d units (sum of all units %.1f s), seconds from the start of the build:\n", n, total
        printf "  %8s %7s %7s  %s\n", "duration", "start", "end", "unit"
        for (i = 1; i <= 10 && i <= n; i++) {
          u = ord[i]  # a package built twice (host and target) is told apart by its features
          printf "  %7.2fs %7.2f %7.2f  %s %s%s%s\n", dur[u], start[u], start[u] + dur[u], name[u], ver[u],
            (tgt[u] == "" ? "" : " (" tgt[u] ")"), (seen[name[u] " " tgt[u]] > 1 ? " [" feat[u] "]" : "")
        }
        printf "  units matching %s:%s: %.2f s in all, %.1f%% of all units\047 time\n", group, glist,
          gsum, total ? 100 * gsum / total : 0
        # The chain that ended the build: from the last unit to finish, back through the unit
        # whose completion (or metadata) let each start.
        for (i = 1; i <= n; i++) if (!last || start[i] + dur[i] > start[last] + dur[last]) last = i
        chain = ""
        for (u = last; u != ""; u = (id[u] in blocker) ? at[blocker[id[u]]] : "") {
          step = sprintf("%s%s %.1f-%.1f", name[u], (tgt[u] == "" ? "" : " (" tgt[u] ")"), start[u],
            start[u] + dur[u])
          chain = step (chain == "" ? "" : (later == "" ? " -> " : " -(" later ")-> ") chain)
          later = via[id[u]]
        }
        printf "  the chain that ended the build (start-end, s):\n    %s\n", chain
      }'
fi
