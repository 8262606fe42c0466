//! How long d1kit takes at compile time: building the schema from 50 migrations, and checking
//! 200 queries against it (what each `sql!` call costs the compiler beyond expansion).

use criterion::{criterion_group, criterion_main, Criterion};
use d1_codegen::migrations::{Migration, MigrationSet};
use d1_codegen::Analyzer;
use std::hint::black_box;

/// 50 migrations: 25 tables created, then columns added, indexes, views and a trigger.
fn migrations() -> MigrationSet {
    let mut out = Vec::new();
    for i in 0..25 {
        let parent = if i > 0 {
            format!(
                ", parent_id INTEGER REFERENCES t{} (id) ON DELETE CASCADE",
                i - 1
            )
        } else {
            String::new()
        };
        out.push(Migration::new(
            format!("{:04}_t{i}.sql", out.len() + 1),
            format!(
                "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, title TEXT, body TEXT NOT NULL DEFAULT '', \
                 score REAL, done BOOLEAN NOT NULL DEFAULT 0, meta JSON, created_at DATETIME DEFAULT CURRENT_TIMESTAMP{parent});\n\
                 CREATE INDEX t{i}_owner ON t{i} (owner, created_at);"
            ),
        ));
    }
    for i in 0..25 {
        let extra = match i % 3 {
            0 => format!("CREATE VIEW v{i} AS SELECT a.id, a.title, b.score FROM t{i} a LEFT JOIN t{} b ON b.id = a.id;", (i + 1) % 25),
            1 => format!("CREATE TRIGGER tr{i} AFTER DELETE ON t{i} BEGIN DELETE FROM t{} WHERE id = old.id; END;", (i + 1) % 25),
            _ => format!("CREATE UNIQUE INDEX t{i}_title ON t{i} (owner, title);"),
        };
        out.push(Migration::new(
            format!("{:04}_alter{i}.sql", out.len() + 1),
            format!("ALTER TABLE t{i} ADD COLUMN tags TEXT;\n{extra}"),
        ));
    }
    MigrationSet::from_migrations(out)
}

/// 200 queries over the schema, cycling through the shapes applications write.
fn queries() -> Vec<String> {
    (0..200)
        .map(|n| {
            let i = n % 25;
            let j = (n + 1) % 25;
            match n % 8 {
                0 => format!("SELECT id, title, score FROM t{i} WHERE owner = ?1 ORDER BY created_at DESC LIMIT ?2"),
                1 => format!("SELECT a.id, b.title AS other FROM t{i} a LEFT JOIN t{j} b ON b.id = a.id WHERE a.owner = :owner"),
                2 => format!("SELECT owner, COUNT(*) AS n, SUM(score) AS total, MAX(created_at) AS latest FROM t{i} GROUP BY owner HAVING n > ?"),
                3 => format!("INSERT INTO t{i} (owner, title, body, meta) VALUES (?, ?, ?, json(?)) RETURNING id, created_at"),
                4 => format!("UPDATE t{i} SET title = :title, score = coalesce(score, 0) + 1 WHERE id = :id AND owner = :owner RETURNING *"),
                5 => format!("DELETE FROM t{i} WHERE owner = ? AND done RETURNING id"),
                6 => format!("WITH recent AS (SELECT id, title FROM t{i} WHERE created_at > datetime('now', '-7 days')) SELECT r.id, r.title, (SELECT COUNT(*) FROM t{j} WHERE t{j}.owner = ?) AS c FROM recent r"),
                _ => format!("SELECT id, row_number() OVER (PARTITION BY owner ORDER BY score DESC) AS rank, CASE WHEN done THEN 'done' ELSE NULL END AS state FROM t{i} WHERE title LIKE ?"),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let set = migrations();
    c.bench_function("schema from 50 migrations", |b| {
        b.iter(|| Analyzer::from_migrations(black_box(&set)).expect("schema builds"))
    });
    let analyzer = Analyzer::from_migrations(&set).expect("schema builds");
    let queries = queries();
    for q in &queries {
        let sig = analyzer.analyze(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert!(sig.warnings.is_empty(), "{q}: {:?}", sig.warnings);
    }
    c.bench_function("analyze 200 queries", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(analyzer.analyze(black_box(q)).expect("valid"));
            }
        })
    });
    // What each `sql!` call runs when the memo has nothing: the analysis with the tenant lint
    // on, then the SQL as D1 receives it.
    let checks = d1_codegen::Checks {
        tenant_column: Some("owner"),
        ..d1_codegen::Checks::default()
    };
    c.bench_function("check 200 queries as sql! does", |b| {
        b.iter(|| {
            for q in &queries {
                if let Ok(analysis) = analyzer.analysis(black_box(q)) {
                    black_box(analysis.d1_sql());
                    let _ = black_box(d1_codegen::lint::lint(&analyzer, analysis, checks));
                }
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
