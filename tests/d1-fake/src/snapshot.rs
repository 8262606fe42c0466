//! Snapshots of a database's whole content (schema and rows), for Time Travel.
//!
//! A snapshot is the database file's pages (SQLite's serialize API); a page equal to the
//! previous snapshot's is shared with it, so a history of small writes costs little memory.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, MAIN_DB};

/// A database's content at one moment.
pub(crate) struct Snapshot {
    /// The file's pages, in order (none for an empty database).
    pages: Vec<Arc<[u8]>>,
}

impl Snapshot {
    /// The content of `conn`'s main database, sharing the pages `previous` has equal.
    pub(crate) fn take(
        conn: &mut Connection,
        previous: Option<&Snapshot>,
    ) -> rusqlite::Result<Snapshot> {
        let page_count: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        if page_count == 0 {
            // Serializing an empty database would make it create its first page.
            return Ok(Snapshot { pages: Vec::new() });
        }
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let page_size = usize::try_from(page_size).unwrap_or(4096).max(1);
        let data = conn.serialize(MAIN_DB)?;
        let pages = data
            .chunks(page_size)
            .enumerate()
            .map(|(i, page)| match previous.and_then(|p| p.pages.get(i)) {
                Some(same) if **same == *page => Arc::clone(same),
                _ => Arc::from(page),
            })
            .collect();
        Ok(Snapshot { pages })
    }

    /// Replaces the whole content of `conn`'s main database by this snapshot.
    pub(crate) fn restore(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let mut source = Connection::open_in_memory()?;
        if !self.pages.is_empty() {
            let bytes: Vec<u8> = self.pages.iter().flat_map(|p| p.iter().copied()).collect();
            source.deserialize_read_exact(MAIN_DB, &bytes[..], bytes.len(), false)?;
        }
        conn.flush_prepared_statement_cache();
        let backup = Backup::new(&source, conn)?;
        backup.run_to_completion(i32::MAX, Duration::ZERO, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(conn: &Connection) -> Vec<(i64, String)> {
        let mut statement = conn.prepare("SELECT a, b FROM t ORDER BY a").unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn restores_content_and_shares_pages() {
        let mut conn = Connection::open_in_memory().unwrap();
        let empty = Snapshot::take(&mut conn, None).unwrap();
        assert!(empty.pages.is_empty());
        conn.execute_batch(
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); CREATE TABLE other (x);
             INSERT INTO t VALUES (1, 'one'), (2, 'two');",
        )
        .unwrap();
        let two = Snapshot::take(&mut conn, Some(&empty)).unwrap();
        conn.execute_batch("DELETE FROM t WHERE a = 2").unwrap();
        let one = Snapshot::take(&mut conn, Some(&two)).unwrap();
        // The `other` table's root page did not change: it is shared.
        assert!(one
            .pages
            .iter()
            .zip(&two.pages)
            .any(|(a, b)| Arc::ptr_eq(a, b)));

        two.restore(&mut conn).unwrap();
        assert_eq!(rows(&conn), vec![(1, "one".into()), (2, "two".into())]);
        conn.execute("INSERT INTO t VALUES (3, 'three')", [])
            .unwrap();
        one.restore(&mut conn).unwrap();
        assert_eq!(rows(&conn), vec![(1, "one".into())]);
        empty.restore(&mut conn).unwrap();
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tables, 0);
        conn.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
            .unwrap();
    }
}
