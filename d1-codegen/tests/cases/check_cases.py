#!/usr/bin/env python3
"""Check the hand-written d1kit typing cases against real SQLite.

The expected types and nullability in tests/cases/<suite>/*.toml were written
by hand from docs/TYPING.md; this script does NOT compute them. It checks what
SQLite itself can confirm:

* every suite's migrations apply, in file-name order, each file as one
  transaction (as `wrangler d1 migrations apply` runs a file as one batch),
  on an in-memory database with `PRAGMA foreign_keys=ON`;
* every [[query]] prepares, is one statement, and SQLite's result column
  names (with an `AS "n!: T"` override suffix removed) and count match
  `columns`; an override's `!` / `?` / `: T` match the entry's nullability
  and type; SQLite's parameter count matches `params`, and each parameter's
  name (`:x` / `@x` / `$x` -> `x`, none for `?` and `?NNN`) matches;
* every [[invalid]] fails in SQLite when the reason is a SQLite error (unknown
  table or column, ambiguous column, wrong number of arguments, syntax), and
  prepares fine when it is d1kit's own rule (transactions, ATTACH, PRAGMA
  allowlist, >100 parameters, unnamed or duplicate result columns, two
  statements); `line`/`column` point where the message says.

Engines: the SQLite library the standard `sqlite3` module uses (through
ctypes for prepare-only metadata, and through `sqlite3` itself for an
`EXPLAIN` run of every valid query), plus `apsw` when it is installed (it
bundles a recent SQLite, the same release rusqlite's bundled feature ships).
An entry that needs a newer SQLite than an engine has (e.g. STRING_AGG, 3.44)
is skipped on that engine; it must pass on at least one.

Usage: python3 check_cases.py [suite ...]      (default: every suite)
Exit status 0 when everything passes.
"""

import ctypes
import ctypes.util
import glob
import os
import re
import sqlite3
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))

BASE_TYPES = {"i64", "f64", "String", "Vec<u8>", "bool", "Value"}
QUERY_KEYS = {"name", "rule", "sql", "columns", "params"}
INVALID_KEYS = {"name", "rule", "sql", "message", "line", "column", "suggestion"}

# D1's PRAGMA allowlist (docs/D1.md, PRAGMAs)
D1_PRAGMAS = {
    "table_list", "table_info", "table_xinfo", "index_list", "index_info",
    "index_xinfo", "foreign_key_list", "foreign_key_check", "quick_check",
    "optimize", "data_version", "page_size", "case_sensitive_like",
    "foreign_keys", "defer_foreign_keys", "ignore_check_constraints",
    "legacy_alter_table", "recursive_triggers", "reverse_unordered_selects",
}

# functions newer than some SQLite a checker may run on: name -> version
NEWER_FUNCTIONS = {"string_agg": (3, 44, 0)}


# --------------------------------------------------------------- engines

class CtypesEngine:
    """Prepare-only access to the SQLite library the sqlite3 module uses."""

    def __init__(self):
        path = os.environ.get("SQLITE3_LIB") or ctypes.util.find_library("sqlite3")
        lib = ctypes.CDLL(path)
        vp, cp, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        lib.sqlite3_libversion.restype = cp
        lib.sqlite3_open.argtypes = [cp, ctypes.POINTER(vp)]
        lib.sqlite3_exec.argtypes = [vp, cp, vp, vp, ctypes.POINTER(cp)]
        lib.sqlite3_prepare_v2.argtypes = [vp, vp, ci, ctypes.POINTER(vp), ctypes.POINTER(vp)]
        lib.sqlite3_errmsg.argtypes = [vp]
        lib.sqlite3_errmsg.restype = cp
        lib.sqlite3_column_count.argtypes = [vp]
        lib.sqlite3_column_name.argtypes = [vp, ci]
        lib.sqlite3_column_name.restype = cp
        lib.sqlite3_bind_parameter_count.argtypes = [vp]
        lib.sqlite3_bind_parameter_name.argtypes = [vp, ci]
        lib.sqlite3_bind_parameter_name.restype = cp
        lib.sqlite3_finalize.argtypes = [vp]
        lib.sqlite3_close.argtypes = [vp]
        self.lib = lib
        self.version_text = lib.sqlite3_libversion().decode()
        self.version = tuple(int(x) for x in self.version_text.split("."))
        self.label = f"libsqlite3 {self.version_text} (ctypes)"
        self.db = None

    def open(self, migrations):
        if self.db:
            self.lib.sqlite3_close(self.db)
        db = ctypes.c_void_p()
        self.lib.sqlite3_open(b":memory:", ctypes.byref(db))
        self.db = db
        self._exec("PRAGMA foreign_keys=ON")
        for path, text in migrations:
            err = self._exec("BEGIN;\n" + text + "\n;COMMIT;")
            if err:
                self._exec("ROLLBACK")
                return f"{os.path.basename(path)}: {err}"
        return None

    def _exec(self, sql):
        err = ctypes.c_char_p()
        rc = self.lib.sqlite3_exec(self.db, sql.encode(), None, None, ctypes.byref(err))
        return None if rc == 0 else (err.value or b"?").decode()

    def prepare(self, sql):
        """-> dict(error, columns, params, tail)"""
        raw = sql.encode()
        buf = ctypes.create_string_buffer(raw)
        stmt, tail = ctypes.c_void_p(), ctypes.c_void_p()
        rc = self.lib.sqlite3_prepare_v2(self.db, ctypes.addressof(buf), len(raw) + 1,
                                         ctypes.byref(stmt), ctypes.byref(tail))
        if rc != 0:
            return {"error": self.lib.sqlite3_errmsg(self.db).decode()}
        off = (tail.value or ctypes.addressof(buf) + len(raw)) - ctypes.addressof(buf)
        rest = raw[off:].decode()
        if not stmt.value:
            return {"error": "empty statement"}
        ncol = self.lib.sqlite3_column_count(stmt)
        cols = [self.lib.sqlite3_column_name(stmt, i).decode() for i in range(ncol)]
        npar = self.lib.sqlite3_bind_parameter_count(stmt)
        pars = []
        for i in range(1, npar + 1):
            n = self.lib.sqlite3_bind_parameter_name(stmt, i)
            pars.append(n.decode() if n is not None else None)
        self.lib.sqlite3_finalize(stmt)
        return {"error": None, "columns": cols, "params": pars, "tail": rest,
                "tail_offset": len(raw[:off].decode())}


class ApswEngine:
    """apsw's bundled SQLite, through apsw.ext.query_info (prepare only)."""

    def __init__(self):
        import apsw
        import apsw.ext
        self.apsw = apsw
        self.version_text = apsw.sqlite_lib_version()
        self.version = tuple(int(x) for x in self.version_text.split("."))
        self.label = f"apsw SQLite {self.version_text}"
        self.con = None

    def open(self, migrations):
        self.con = self.apsw.Connection(":memory:")
        self.con.execute("PRAGMA foreign_keys=ON")
        for path, text in migrations:
            try:
                self.con.execute("BEGIN;\n" + text + "\n;COMMIT;")
            except Exception as e:  # noqa: BLE001
                return f"{os.path.basename(path)}: {e}"
        return None

    def prepare(self, sql):
        try:
            qi = self.apsw.ext.query_info(self.con, sql)
        except Exception as e:  # noqa: BLE001
            return {"error": str(e)}
        cols = [d[0] for d in (qi.description or ())]
        # apsw strips the sigil of parameter names, so ?2 and $2 both read '2'
        pars = list(qi.bindings_names)
        return {"error": None, "columns": cols, "params": pars,
                "tail": qi.query_remaining or "", "stripped_names": True}


def stdlib_explain(migrations, queries):
    """Run `EXPLAIN <sql>` for every valid query through the sqlite3 module."""
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.text_factory = bytes  # EXPLAIN's p4 may hold blob bytes
    con.execute("PRAGMA foreign_keys=ON")
    for _, text in migrations:
        con.executescript("BEGIN;\n" + text + "\n;COMMIT;")
    out = {}
    for where, q, nparams in queries:
        sql = q["sql"].rstrip().rstrip(";")
        try:
            con.execute("EXPLAIN " + sql, [None] * nparams).fetchall()
            out[where] = None
        except Exception as e:  # noqa: BLE001
            out[where] = str(e)
    con.close()
    return out


# --------------------------------------------------------------- helpers

OVERRIDE = re.compile(r"(?s)\s*([^!?:]*?)\s*([!?])?\s*(?::\s*(.+?))?\s*")


def split_override(raw):
    """'n!: T' -> ('n', '!', 'T'); 'n' -> ('n', None, None)"""
    m = OVERRIDE.fullmatch(raw)
    if not m:
        return raw, None, None
    return m.group(1), m.group(2), m.group(3)


def offset_of(sql, line, column):
    lines = sql.split("\n")
    if not (1 <= line <= len(lines)) or not (1 <= column <= len(lines[line - 1]) + 1):
        return None
    return sum(len(l) + 1 for l in lines[: line - 1]) + column - 1


def line_col(sql, offset):
    before = sql[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    return line, col


def skip_space_and_comments(sql, i):
    while i < len(sql):
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = len(sql) if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = len(sql) if j < 0 else j + 2
        else:
            break
    return i


def parameter_tokens(sql):
    """(offset, token) of each parameter, skipping literals, quoted names, comments."""
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif c == "[":
            j = sql.find("]", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            i = skip_space_and_comments(sql, i)
        elif c == "?":
            m = re.compile(r"\?\d*").match(sql, i)
            out.append((i, m.group(0)))
            i = m.end()
        elif c in ":@$" and i + 1 < n and (sql[i + 1].isalnum() or sql[i + 1] == "_"):
            m = re.compile(r"[:@$][A-Za-z0-9_]+").match(sql, i)
            out.append((i, m.group(0)))
            i = m.end()
        else:
            i += 1
    return out


def first_param_over_100(sql):
    largest, names = 0, {}
    for off, tok in parameter_tokens(sql):
        if tok == "?":
            largest += 1
            idx = largest
        elif tok[0] == "?":
            idx = int(tok[1:])
            largest = max(largest, idx)
        elif tok in names:
            idx = names[tok]
        else:
            largest += 1
            idx = names[tok] = largest
        if idx > 100:
            return off
    return None


def first_keyword(sql):
    i = skip_space_and_comments(sql, 0)
    m = re.compile(r"[A-Za-z_]+").match(sql, i)
    return (m.group(0).upper() if m else ""), i


def needs_version(sql):
    low = sql.lower()
    vs = [v for f, v in NEWER_FUNCTIONS.items() if re.search(r"\b" + f + r"\s*\(", low)]
    return max(vs) if vs else None


# --------------------------------------------------------------- checks

class Report:
    def __init__(self):
        self.failures = []
        self.skipped = []
        self.failed_entries = set()

    def fail(self, where, msg):
        self.failures.append(f"{where}: {msg}")
        self.failed_entries.add(where)


def check_query_shape(q, where, rep):
    extra = set(q) - QUERY_KEYS
    missing = QUERY_KEYS - set(q)
    if extra:
        rep.fail(where, f"unknown keys {sorted(extra)}")
    if missing:
        rep.fail(where, f"missing keys {sorted(missing)}")
        return False
    if not re.fullmatch(r"[a-z][a-z0-9_]*", q["name"]):
        rep.fail(where, "name is not snake_case")
    for c in q["columns"]:
        if set(c) != {"name", "type", "nullable"}:
            rep.fail(where, f"column entry keys {sorted(c)}")
        if not isinstance(c.get("nullable"), bool):
            rep.fail(where, f"column {c.get('name')}: nullable must be a boolean")
    for i, p in enumerate(q["params"], 1):
        if not set(p) <= {"index", "name", "type", "nullable"} or not {"index", "type", "nullable"} <= set(p):
            rep.fail(where, f"param entry keys {sorted(p)}")
            continue
        if p["index"] != i:
            rep.fail(where, f"params must be listed 1..N in order (got index {p['index']} at {i})")
        if p["type"] not in BASE_TYPES:
            rep.fail(where, f"param {i}: type {p['type']!r} is not one of {sorted(BASE_TYPES)}")
        if not isinstance(p["nullable"], bool):
            rep.fail(where, f"param {i}: nullable must be a boolean")
    return True


def check_query_against(q, res, where, rep, engine):
    if res["error"]:
        rep.fail(where, f"[{engine}] SQLite rejects it: {res['error']}")
        return
    tail = res["tail"].strip()
    if tail.strip(";").strip():
        rep.fail(where, f"[{engine}] more than one statement (rest: {tail[:40]!r})")
    cols = res["columns"]
    if len(cols) != len(q["columns"]):
        rep.fail(where, f"[{engine}] SQLite gives {len(cols)} columns {cols}, entry has {len(q['columns'])}")
    for raw, exp in zip(cols, q["columns"]):
        name, flag, typ = split_override(raw)
        if name != exp["name"]:
            rep.fail(where, f"[{engine}] column {raw!r}: name {name!r} != expected {exp['name']!r}")
        if typ is not None and typ != exp["type"]:
            rep.fail(where, f"[{engine}] column {raw!r}: override type {typ!r} != expected {exp['type']!r}")
        if typ is None and exp["type"] not in BASE_TYPES:
            rep.fail(where, f"[{engine}] column {raw!r}: type {exp['type']!r} without an override")
        if flag == "!" and exp["nullable"]:
            rep.fail(where, f"[{engine}] column {raw!r}: `!` override but expected nullable")
        if flag == "?" and not exp["nullable"]:
            rep.fail(where, f"[{engine}] column {raw!r}: `?` override but expected non-null")
    pars = res["params"]
    if len(pars) != len(q["params"]):
        rep.fail(where, f"[{engine}] SQLite counts {len(pars)} parameters {pars}, entry has {len(q['params'])}")
        return
    for i, (raw, exp) in enumerate(zip(pars, q["params"]), 1):
        if res.get("stripped_names"):
            # apsw: None for ? and unused numbers; '3' for ?3 and for $3 alike
            got = raw
            want = exp.get("name")
            if want is None and got is not None and got != str(i):
                rep.fail(where, f"[{engine}] parameter {i} is named {got!r}, entry has no name")
            if want is not None and got != want:
                rep.fail(where, f"[{engine}] parameter {i} is named {got!r}, entry says {want!r}")
            continue
        if raw is None or raw.startswith("?"):
            if "name" in exp:
                rep.fail(where, f"[{engine}] parameter {i} is {raw or 'unnamed'}, entry names it {exp['name']!r}")
        else:
            if exp.get("name") != raw[1:]:
                rep.fail(where, f"[{engine}] parameter {i} is {raw!r}, entry name {exp.get('name')!r}")


SQLITE_ERROR_KINDS = {
    "no table": lambda e, x: f"no such table: {x}" in e or f"no such table: main.{x}" in e,
    "no column": lambda e, x: ("no such column" in e or "has no column named" in e) and x in e,
    "ambiguous column": lambda e, x: f"ambiguous column name: {x}" in e,
    "no function": lambda e, x: f"no such function: {x}" in e,
    "wrong number of arguments": lambda e, x: "wrong number of arguments" in e,
    "values count": lambda e, x: re.search(r"\d+ values for \d+ columns|has \d+ columns but \d+ values were supplied", e),
    "syntax error": lambda e, x: "syntax error" in e,
}

# d1kit's words for SQLite's errors (its messages say the same in its own way): kind, subject.
D1KIT_WORDINGS = [
    (r"(no table|no column|ambiguous column|no function|duplicate result column) `([^`]+)`", None),
    (r"wrong number of arguments to function `([^`]+)`", "wrong number of arguments"),
    (r"this INSERT lists \d+ columns? but gives \d+ values?()", "values count"),
    (r"`[^`]+` has \d+ columns? but this INSERT gives \d+ values?()", "values count"),
]


def kind_of(msg):
    for pattern, kind in D1KIT_WORDINGS:
        m = re.match(pattern, msg)
        if m:
            return (m.group(1), m.group(2)) if kind is None else (kind, m.group(1) or None)
    return msg, None


def check_invalid(inv, res, where, rep, engine):
    extra = set(inv) - INVALID_KEYS
    if extra:
        rep.fail(where, f"unknown keys {sorted(extra)}")
    sql, msg = inv["sql"], inv["message"]
    kind, subject = kind_of(msg)
    if "suggestion" in inv and kind not in ("no table", "no column", "no function"):
        rep.fail(where, "suggestion only goes with unknown tables, columns and functions")
    if "suggestion" in inv and not re.fullmatch(r"did you mean `[^`]+`\?", inv["suggestion"]):
        rep.fail(where, "suggestion must read: did you mean `X`?")
    has_loc = "line" in inv or "column" in inv
    off = None
    if has_loc:
        if not ("line" in inv and "column" in inv):
            rep.fail(where, "line and column go together")
            return
        off = offset_of(sql, inv["line"], inv["column"])
        if off is None:
            rep.fail(where, "line/column outside the SQL text")
            return
    at = sql[off:] if off is not None else ""

    if kind in SQLITE_ERROR_KINDS:
        if not res["error"]:
            rep.fail(where, f"[{engine}] SQLite accepts it, expected a {kind} error")
        elif not SQLITE_ERROR_KINDS[kind](res["error"], subject):
            rep.fail(where, f"[{engine}] SQLite says {res['error']!r}, expected {kind} {subject or ''}")
        if kind == "syntax error" and has_loc:
            rep.fail(where, f"{kind}: no location expected")
        if kind == "values count" and has_loc and not re.match(r"(?i)VALUES\b", at):
            rep.fail(where, f"location points at {at[:20]!r}, not at VALUES")
        if kind in ("no table", "no column", "ambiguous column", "no function"):
            if not has_loc:
                rep.fail(where, "location expected")
            elif not re.match(r"(?i)(\w+\.)?" + re.escape(subject) + r"\b", at):
                rep.fail(where, f"location points at {at[:20]!r}, not at `{subject}`")
        return

    # d1kit's own rules: the first statement itself is fine for SQLite
    if res["error"]:
        rep.fail(where, f"[{engine}] SQLite rejects it ({res['error']}); not a policy rejection")
        return
    kw, start = first_keyword(sql)
    if msg == "explicit transactions":
        if kw not in {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
            rep.fail(where, f"statement starts with {kw}")
        if off != start:
            rep.fail(where, "location must be the statement start")
    elif msg == "ATTACH":
        if kw not in {"ATTACH", "DETACH"} or off != start:
            rep.fail(where, "not an ATTACH/DETACH at the location")
    elif msg == "is not allowed on D1":
        pm = re.match(r"(?is)\s*PRAGMA\s+(?:\w+\.)?(\w+)", sql)
        if not pm or pm.group(1).lower() in D1_PRAGMAS:
            rep.fail(where, "not a PRAGMA outside D1's allowlist")
        if off != start:
            rep.fail(where, "location must be the statement start")
    elif msg == "more than 100 parameters":
        if len(res["params"]) <= 100:
            rep.fail(where, f"[{engine}] SQLite counts only {len(res['params'])} parameters")
        want = first_param_over_100(sql)
        if has_loc and off != want:
            rep.fail(where, f"location should be {line_col(sql, want)} (the 101st parameter)")
    elif msg == "one statement":
        tail = res["tail"]
        if not tail.strip().strip(";").strip():
            rep.fail(where, f"[{engine}] SQLite sees one statement only")
        elif has_loc and "tail_offset" in res:
            second = skip_space_and_comments(sql, res["tail_offset"])
            if off != second:
                rep.fail(where, f"location should be {line_col(sql, second)} (second statement)")
    elif msg == "needs a name":
        names = res["columns"]
        if has_loc and not any(at.startswith(n) for n in names):
            rep.fail(where, f"location {at[:20]!r} is not the start of an unnamed column {names}")
    elif kind == "duplicate result column":
        names = [split_override(n)[0] for n in res["columns"]]
        if names.count(subject) < 2:
            rep.fail(where, f"[{engine}] columns {names}: `{subject}` is not duplicated")
        if has_loc:
            before = sql[:off].rstrip()
            if not before.endswith(","):
                rep.fail(where, f"location {at[:20]!r} is not the start of a later column")
    else:
        rep.fail(where, f"unknown message kind {msg!r}")


# --------------------------------------------------------------- main

def load_suite(path):
    migrations = [(p, open(p, encoding="utf-8").read())
                  for p in sorted(glob.glob(os.path.join(path, "migrations", "*.sql")))]
    files = []
    for p in sorted(glob.glob(os.path.join(path, "*.toml"))):
        with open(p, "rb") as f:
            files.append((p, tomllib.load(f)))
    return migrations, files


def main(argv):
    suites = argv or sorted(d for d in os.listdir(HERE)
                            if os.path.isdir(os.path.join(HERE, d, "migrations")))
    engines = [CtypesEngine()]
    try:
        engines.append(ApswEngine())
    except ImportError:
        pass
    print("engines:", ", ".join(e.label for e in engines), "| python sqlite3", sqlite3.sqlite_version)
    rep = Report()
    totals = [0, 0]
    for suite in suites:
        spath = os.path.join(HERE, suite)
        migrations, files = load_suite(spath)
        for e in engines:
            err = e.open(migrations)
            if err:
                rep.fail(f"{suite}/migrations", f"[{e.label}] {err}")
        seen = {}
        explain_queue = []
        print(f"\n{suite}: {len(migrations)} migrations")
        for fpath, doc in files:
            fname = os.path.basename(fpath)
            extra = set(doc) - {"query", "invalid"}
            if extra:
                rep.fail(f"{suite}/{fname}", f"unknown tables {sorted(extra)}")
            queries, invalids = doc.get("query", []), doc.get("invalid", [])
            print(f"  {fname:24} {len(queries):4} query  {len(invalids):3} invalid")
            totals[0] += len(queries)
            totals[1] += len(invalids)
            for entry in queries + invalids:
                nm = entry.get("name", "?")
                if nm in seen:
                    rep.fail(f"{suite}/{fname}:{nm}", f"name also used in {seen[nm]}")
                seen[nm] = fname
            for q in queries:
                where = f"{suite}/{fname}:{q.get('name')}"
                if not check_query_shape(q, where, rep):
                    continue
                checked = 0
                need = needs_version(q["sql"])
                for e in engines:
                    if need and e.version < need:
                        continue
                    res = e.prepare(q["sql"])
                    check_query_against(q, res, where, rep, e.label)
                    checked += 1
                if checked == 0:
                    rep.skipped.append(f"{where}: needs SQLite {'.'.join(map(str, need))}")
                elif not need or engines[0].version >= need:
                    explain_queue.append((where, q, len(q["params"])))
            for inv in invalids:
                where = f"{suite}/{fname}:{inv.get('name')}"
                if not {"name", "sql", "message"} <= set(inv):
                    rep.fail(where, "needs name, sql, message")
                    continue
                for e in engines:
                    check_invalid(inv, e.prepare(inv["sql"]), where, rep, e.label)
        for where, err in stdlib_explain(migrations, explain_queue).items():
            if err:
                rep.fail(where, f"[python sqlite3] EXPLAIN fails: {err}")
    print(f"\ntotal: {totals[0]} query, {totals[1]} invalid")
    for s in rep.skipped:
        print("SKIPPED", s)
    for f in rep.failures:
        print("FAIL", f)
    nfail = len(rep.failed_entries)
    nskip = len(rep.skipped)
    print(f"{totals[0] + totals[1] - nfail - nskip} passed, {nfail} failed, {nskip} skipped")
    return 1 if rep.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
