#!/usr/bin/env bash
# Incremental compile cost per checked query: d1kit's sql! vs sqlx's query!, same schema, same
# 200 queries, same run. For each tool, a crate with the 200 queries, the same crate with the
# first query only, and the same crate without any are rebuilt after a `touch` (REPS times
# each, 5 unless set; median). Cost per query = (with - without) / 200, the README's measure;
# it includes what the first query alone costs (linking the runtime, loading the macros),
# shown apart, and the
# marginal cost of each further query = (with - one) / 199. d1kit is measured twice: as users
# get it, and with its memo of analyses off (D1KIT_CACHE=off: every analysis redone).
# A second table runs every query (`.all(&db).await` / `.fetch_all(&pool).await`, in a crate
# that opens a database either way): what a query costs an application, where the runtime is
# linked anyway and each query instantiates its executor code.
# Needs python3 (to create the SQLite file sqlx's macros connect to).
#
#   scripts/bench-compile.sh            # prints the table
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$ROOT/target/bench-compile"
N=200
export REPS="${REPS:-5}"
SCHEMA="$ROOT/d1-codegen/tests/cases/notes/migrations"
mkdir -p "$WORK"
export CARGO_TARGET_DIR="$WORK/target"

# The schema as a SQLite file for sqlx (its macros need a live database or a .sqlx cache).
rm -f "$WORK/schema.sqlite"
python3 - "$SCHEMA" "$WORK/schema.sqlite" <<'PY'
import sqlite3, sys, pathlib
db = sqlite3.connect(sys.argv[2])
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.sql")):
    db.executescript(f.read_text())
db.commit()
PY

queries() { # $1 = macro path; with $2 $3 (the database's type, the method that runs a query):
             # an async fn that runs every query
python3 - "$1" "$N" "${2:-}" "${3:-}" <<'PY'
import sys
mac, n, db, method = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
templates = [
  'SELECT id, title, body FROM notes WHERE owner_id = ? AND word_count > {i}',
  'SELECT n.id, n.title, u.email FROM notes n JOIN users u ON u.id = n.owner_id WHERE n.id = ? AND n.word_count >= {i}',
  'SELECT count(*) AS n FROM notes WHERE owner_id = ? AND word_count < {i}',
  'SELECT id, name, color FROM tags WHERE owner_id = ? LIMIT {i}',
  'SELECT id, email, display_name, is_admin FROM users WHERE id = ? AND balance > {i}',
  'UPDATE notes SET word_count = {i} WHERE id = ?',
  'DELETE FROM tags WHERE id = ? AND owner_id > {i}',
  'SELECT n.id, count(t.tag_id) AS tags FROM notes n LEFT JOIN note_tags t ON t.note_id = n.id WHERE n.owner_id = ? AND n.id > {i} GROUP BY n.id',
]
print(f"pub async fn run(db: &{db}) {{" if db else "pub fn run() {")
for i in range(n):
    sql = templates[i % len(templates)].format(i=i)
    run = f".{method}(db).await" if db else ""
    print(f'    let _q{i} = {mac}!("{sql}", 1_i64){run};')
print("}")
PY
}

setup() { # $1 = name, $2 = dependency lines, $3 = macro path, $4 = extra manifest text,
          # $5 = the database's type, $6 = how to open one, $7 = the method that runs a query
  local dir="$WORK/$1"
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
$2
$4
TOML
  cp "$ROOT/Cargo.lock" "$dir/Cargo.lock" 2>/dev/null || true
  queries "$3" > "$dir/src/with.rs"
  head -n 2 "$dir/src/with.rs" > "$dir/src/one.rs"
  echo "}" >> "$dir/src/one.rs"
  echo "pub fn run() {}" > "$dir/src/without.rs"
  queries "$3" "$5" "$7" > "$dir/src/run-with.rs"
  echo "pub async fn run(_db: &$5) {}" > "$dir/src/run-without.rs"
  # Run variants: main opens a database and drives run() to completion (never executed: the
  # build is what is measured).
  cat > "$dir/src/run-main.rs" <<RS
pub fn main() {
    let db = $6;
    let mut run = std::pin::pin!(super::q::run(&db));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    while std::future::Future::poll(run.as_mut(), &mut cx).is_pending() {}
}
RS
}

time_build() { # $1 = dir; prints seconds of one incremental build after a touch
  touch "$1/src/main.rs"
  local s e
  s=$(date +%s.%N)
  cargo build --quiet --manifest-path "$1/Cargo.toml"
  e=$(date +%s.%N)
  python3 -c "print(f'{$e - $s:.3f}')"
}

median() { python3 -c "import sys; v=sorted(map(float, sys.argv[1:])); print(v[len(v)//2])" "$@"; }

measure() { # $1 = dir, $2.. = variants; prints the median time of each
  local dir="$1" out=()
  shift
  for variant in "$@"; do
    if [[ $variant == run-* ]]; then
      printf 'mod queries;\n#[path = "%s.rs"] mod q;\n#[path = "run-main.rs"] mod run;\nfn main() { run::main(); }\n' "$variant" > "$dir/src/main.rs"
    else
      printf 'mod queries;\n#[path = "%s.rs"] mod q;\nfn main() { q::run(); }\n' "$variant" > "$dir/src/main.rs"
    fi
    # queries.rs is unused; keep the module list identical in every variant.
    echo "" > "$dir/src/queries.rs"
    cargo build --quiet --manifest-path "$dir/Cargo.toml" 2>&1 | grep -E "^error" && exit 1 || true
    local t=()
    for _ in $(seq "$REPS"); do t+=("$(time_build "$dir")"); done
    out+=("$(median "${t[@]}")")
  done
  echo "${out[*]}"
}

# OPT_MACROS=1: both crates compile their proc macros optimized, as sqlx's and d1kit's READMEs
# recommend ([profile.dev.build-override] opt-level = 3).
PROFILE=""
if [ "${OPT_MACROS:-0}" = 1 ]; then
  PROFILE="[profile.dev.build-override]
opt-level = 3"
fi
setup d1kit-queries "d1kit = { path = \"$ROOT\" }" "d1kit::sql" "[package.metadata.d1kit.databases.db]
migrations = \"$SCHEMA\"
$PROFILE" d1kit::local::Database "d1kit::local::Database::open_in_memory().unwrap()" all
setup sqlx-queries 'sqlx = { version = "0.9", default-features = false, features = ["sqlite", "macros", "runtime-tokio"] }' "sqlx::query" "$PROFILE" \
  sqlx::SqlitePool 'sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap()' fetch_all
export DATABASE_URL="sqlite://$WORK/schema.sqlite"

read -r d1 d1one d1none d1run d1runnone < <(measure "$WORK/d1kit-queries" with one without run-with run-without)
read -r off offone offnone < <(D1KIT_CACHE=off measure "$WORK/d1kit-queries" with one without)
read -r sx sxone sxnone sxrun sxrunnone < <(measure "$WORK/sqlx-queries" with one without run-with run-without)
python3 - "$N" "$d1" "$d1one" "$d1none" "$off" "$offone" "$offnone" "$sx" "$sxone" "$sxnone" \
  "$d1run" "$d1runnone" "$sxrun" "$sxrunnone" <<'PY'
import os, sys
n = int(sys.argv[1])
v = list(map(float, sys.argv[2:11]))
ran = list(map(float, sys.argv[11:]))
opt = "optimized" if os.environ.get("OPT_MACROS") == "1" else "default dev profile"
print(f"incremental build, {n} queries (median of {os.environ['REPS']}), proc macros: {opt}:")
print(f"  {'':24} {'with':>6} {'one':>6} {'none':>6}   per query   first query   each further")
rows = {}
for i, name in enumerate(["d1kit sql!", "d1kit sql! (memo off)", "sqlx query!"]):
    w, one, none = v[3 * i : 3 * i + 3]
    per, first, further = (w - none) / n * 1000, (one - none) * 1000, (w - one) / (n - 1) * 1000
    rows[name] = (per, further)
    print(f"  {name:24} {w:5.2f}s {one:5.2f}s {none:5.2f}s   {per:6.2f} ms   {first:8.0f} ms   {further:7.2f} ms")
d, s = rows["d1kit sql!"], rows["sqlx query!"]
print(f"  ratio d1kit/sqlx per query: {d[0] / s[0]:.3f} (target <= 0.1); each further query: {d[1] / s[1]:.3f}")
print(f"every query run (.all / .fetch_all), in a crate that opens a database either way:")
print(f"  {'':24} {'with':>6} {'none':>6}   per query")
per = []
for i, name in enumerate(["d1kit sql!", "sqlx query!"]):
    w, none = ran[2 * i : 2 * i + 2]
    per.append((w - none) / n * 1000)
    print(f"  {name:24} {w:5.2f}s {none:5.2f}s   {per[-1]:6.2f} ms")
print(f"  ratio d1kit/sqlx per query run: {per[0] / per[1]:.3f}")
PY
