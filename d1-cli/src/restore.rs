//! Point-in-time restore with D1's Time Travel: the bookmarks `d1kit migrate --remote` takes
//! before it applies anything (written to `--bookmarks FILE` as they are taken), and
//! `d1kit restore --remote`, which puts each database back to its bookmark (or to a time) and
//! records the undo bookmark D1 answers.
//!
//! A bookmarks file is JSON: `{"version": 1, "databases": [{"database", "label", "id",
//! "bookmark", "taken_at"}]}`, one entry per database, the first bookmark taken kept.

use crate::fleet::{each, short_id, table, Backend, Fleet};
use crate::report::{self, count};
use crate::reshard::{ask, error};
use crate::tenant::write_privately;
use crate::{Format, RestoreArgs};
use d1_codegen::Diagnostics;
use d1_runtime::block_on;
use d1_runtime::rest::{Client, RestorePoint};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// One database's bookmark, as a bookmarks file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The configured database it belongs to (`--database-id`: the one named).
    pub database: String,
    /// Its binding (or id), as the fleet commands label it.
    pub label: String,
    /// Its id.
    pub id: String,
    /// The Time Travel bookmark.
    pub bookmark: String,
    /// When it was taken, RFC 3339 (UTC, seconds).
    pub taken_at: String,
}

impl Entry {
    fn json(&self) -> Value {
        json!({
            "database": self.database,
            "label": self.label,
            "id": self.id,
            "bookmark": self.bookmark,
            "taken_at": self.taken_at,
        })
    }
}

/// Bookmarks as they are taken, written to a file after each one (through a temporary file
/// and a rename), so that a crash midway keeps every bookmark taken so far.
pub(crate) struct Log {
    path: Option<PathBuf>,
    entries: Mutex<Vec<Entry>>,
}

impl Log {
    /// A log written to `path` (`None`: kept for the report only). An existing file's entries
    /// are kept: a rerun adds to it and never replaces a bookmark already there.
    pub(crate) fn new(path: Option<&Path>) -> Result<Log, Diagnostics> {
        let entries = match path {
            Some(p) if p.exists() => read(p)?,
            _ => Vec::new(),
        };
        Ok(Log {
            path: path.map(Path::to_path_buf),
            entries: Mutex::new(entries),
        })
    }

    /// Records `entry` unless its database has one already; writes the file.
    pub(crate) fn add(&self, entry: Entry) -> d1_runtime::Result<()> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.iter().any(|e| e.id == entry.id) {
            return Ok(());
        }
        entries.push(entry);
        if let Some(path) = &self.path {
            write_privately(path, file_text(&entries)).map_err(|source| d1_runtime::Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// The bookmark recorded for database `id`.
    pub(crate) fn get(&self, id: &str) -> Option<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().find(|e| e.id == id).cloned()
    }
}

fn file_text(entries: &[Entry]) -> String {
    let databases: Vec<Value> = entries.iter().map(Entry::json).collect();
    let mut text = serde_json::to_string_pretty(&json!({"version": 1, "databases": databases}))
        .unwrap_or_default();
    text.push('\n');
    text
}

/// The entries of a d1kit JSON file `{"version": 1, "databases": [{...}]}` (`what` it is,
/// for errors: "a bookmarks file"), each read by `entry` with a reader of its fields; anything
/// malformed is an error naming the file and the entry.
pub(crate) fn read_entries<T>(
    path: &Path,
    what: &str,
    entry: impl Fn(&Fields) -> Result<T, Diagnostics>,
) -> Result<Vec<T>, Diagnostics> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("{shown}: {e}")))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| error(format!("{shown}: not {what} (JSON: {e})")))?;
    if value.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(error(format!(
            "{shown}: not {what} of this d1kit (`version` is not 1)"
        )));
    }
    let Some(list) = value.get("databases").and_then(Value::as_array) else {
        return Err(error(format!("{shown}: `databases` is not a list")));
    };
    list.iter()
        .enumerate()
        .map(|(index, item)| {
            entry(&Fields {
                file: shown.to_string(),
                index,
                item,
            })
        })
        .collect()
}

/// One entry of a d1kit JSON file, read field by field ([`read_entries`]).
pub(crate) struct Fields<'a> {
    file: String,
    index: usize,
    item: &'a Value,
}

impl Fields<'_> {
    /// An error about this entry's field `name`.
    pub(crate) fn error(&self, name: &str, why: &str) -> Diagnostics {
        error(format!(
            "{}: databases[{}].{name}: {why}",
            self.file, self.index
        ))
    }

    /// Field `name`, a string.
    pub(crate) fn text(&self, name: &str) -> Result<String, Diagnostics> {
        self.item
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                error(format!(
                    "{}: databases[{}] has no `{name}` (a string)",
                    self.file, self.index
                ))
            })
    }

    /// Field `name`, a whole number.
    pub(crate) fn number(&self, name: &str) -> Result<u64, Diagnostics> {
        self.item.get(name).and_then(Value::as_u64).ok_or_else(|| {
            error(format!(
                "{}: databases[{}] has no `{name}` (a number)",
                self.file, self.index
            ))
        })
    }
}

/// A bookmarks file's entries.
pub(crate) fn read(path: &Path) -> Result<Vec<Entry>, Diagnostics> {
    read_entries(path, "a bookmarks file", |f| {
        let entry = Entry {
            database: f.text("database")?,
            label: f.text("label")?,
            id: f.text("id")?,
            bookmark: f.text("bookmark")?,
            taken_at: f.text("taken_at")?,
        };
        parse_time(&entry.taken_at).map_err(|e| f.error("taken_at", &e))?;
        Ok(entry)
    })
}

/// Now, RFC 3339 in UTC to the second.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// An RFC 3339 time: UTC (`Z`) or with an offset (`+02:00`); fractions of a second allowed.
pub(crate) fn parse_time(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("`{text}` is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z)");
    let t = text.trim();
    // The offset, if any: the last `+` or `-` after the time's `T`.
    let (local, offset_secs) = match t.strip_suffix(['Z', 'z']) {
        Some(utc) => (utc.to_owned(), 0i64),
        None => {
            let at = t.rfind(['+', '-']).filter(|&i| i > 10).ok_or_else(bad)?;
            let (h, m) = t[at + 1..].split_once(':').ok_or_else(bad)?;
            let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let sign = if &t[at..=at] == "-" { -1 } else { 1 };
            (t[..at].to_owned(), sign * (h * 3600 + m * 60))
        }
    };
    let base = humantime::parse_rfc3339(&format!("{local}Z")).map_err(|_| bad())?;
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs >= 0 {
        base.checked_sub(shift)
    } else {
        base.checked_add(shift)
    }
    .ok_or_else(bad)
}

/// Refuses a time outside D1's Time Travel window: older than `retention_days`, or ahead of
/// now (beyond a minute of clock skew).
fn within_window(at: SystemTime, what: &str, retention_days: u32) -> Result<(), Diagnostics> {
    let now = SystemTime::now();
    if at > now + Duration::from_secs(60) {
        return Err(error(format!("{what} is in the future")));
    }
    let age = now.duration_since(at).unwrap_or_default();
    if age > Duration::from_secs(u64::from(retention_days) * 86_400) {
        return Err(Diagnostics(vec![d1_codegen::Diagnostic::error(format!(
            "{what} is {} days old: outside Time Travel's {retention_days}-day window, D1 no longer has it",
            age.as_secs() / 86_400
        ))
        .with_help("D1 keeps 30 days on paid plans and 7 on free ones (--retention-days)")]));
    }
    Ok(())
}

/// One database restored, or why not.
struct Outcome {
    entry: Entry,
    to: String,
    /// D1's answer: the bookmark restored to, and the one that undoes it.
    restored: Option<(String, String)>,
    error: Option<String>,
}

/// `d1kit restore`.
pub(crate) fn run(args: RestoreArgs) -> ExitCode {
    crate::fleet::exit(args.fleet.format, restore(&args))
}

fn restore(args: &RestoreArgs) -> Result<bool, Diagnostics> {
    let fleet_args = &args.fleet;
    if !fleet_args.remote {
        return Err(error(
            "d1kit restore uses D1's Time Travel, which only Cloudflare has: pass --remote",
        ));
    }
    // What to restore, and to which point.
    let (client, targets): (Client, Vec<(Entry, RestorePoint)>) =
        match (&args.bookmarks, &args.timestamp) {
            (Some(file), _) => {
                let entries = read(file)?;
                for e in &entries {
                    let at = parse_time(&e.taken_at).map_err(error)?;
                    within_window(
                        at,
                        &format!(
                            "the bookmark of {} ({}), taken {}",
                            e.label,
                            short_id(&e.id),
                            e.taken_at
                        ),
                        args.retention_days,
                    )?;
                }
                let chosen: Vec<Entry> = if fleet_args.database_ids.is_empty() {
                    entries
                } else {
                    let missing: Vec<&String> = fleet_args
                        .database_ids
                        .iter()
                        .filter(|id| !entries.iter().any(|e| &e.id == *id))
                        .collect();
                    if let Some(id) = missing.first() {
                        return Err(error(format!(
                            "--database-id {id}: {} has no bookmark of that database",
                            file.display()
                        )));
                    }
                    entries
                        .into_iter()
                        .filter(|e| fleet_args.database_ids.contains(&e.id))
                        .collect()
                };
                let client = crate::api::client(
                    "`d1kit restore --remote` restores the databases through Cloudflare's API",
                    "`--dry-run` shows the plan without them",
                );
                let client = match client {
                    Ok(c) => c,
                    Err(_) if args.dry_run => Client::new("", ""),
                    Err(e) => return Err(e),
                };
                let targets = chosen
                    .into_iter()
                    .map(|e| {
                        let point = RestorePoint::Bookmark(e.bookmark.clone());
                        (e, point)
                    })
                    .collect();
                (client, targets)
            }
            (None, Some(timestamp)) => {
                let at = parse_time(timestamp).map_err(|e| error(format!("--timestamp: {e}")))?;
                within_window(at, &format!("--timestamp {timestamp}"), args.retention_days)?;
                let fleet = Fleet::load(fleet_args, "restore")?;
                let Backend::Remote(client) = &fleet.backend else {
                    return Err(error("d1kit restore needs --remote"));
                };
                let targets = fleet
                    .groups
                    .iter()
                    .flat_map(|g| {
                        g.targets.iter().map(|t| {
                            (
                                Entry {
                                    database: g.database.clone(),
                                    label: t.label.clone(),
                                    id: t.id.clone(),
                                    bookmark: String::new(),
                                    taken_at: timestamp.clone(),
                                },
                                RestorePoint::Timestamp(timestamp.clone()),
                            )
                        })
                    })
                    .collect();
                (client.clone(), targets)
            }
            (None, None) => return Err(error("pass --bookmarks FILE or --timestamp RFC3339")),
        };
    if targets.is_empty() {
        return Err(error("no databases to restore"));
    }
    let json = fleet_args.format == Format::Json;
    let point = |p: &RestorePoint| match p {
        RestorePoint::Bookmark(b) => b.clone(),
        RestorePoint::Timestamp(t) => t.clone(),
    };
    if args.dry_run {
        if json {
            let list: Vec<Value> = targets
                .iter()
                .map(|(e, p)| json!({"database": e.database, "label": e.label, "id": e.id, "restore_to": point(p)}))
                .collect();
            println!("{}", json!({"dry_run": true, "databases": list}));
        } else {
            let rows: Vec<Vec<String>> = targets
                .iter()
                .map(|(e, p)| vec![e.label.clone(), short_id(&e.id), point(p)])
                .collect();
            print!("{}", table(&["DATABASE", "ID", "RESTORE TO"], &rows));
            println!(
                "{} would be restored (dry run: nothing restored)",
                count(targets.len(), "database")
            );
        }
        return Ok(false);
    }
    if !args.yes {
        let what = format!(
            "restore would replace the content of {}",
            count(targets.len(), "database")
        );
        if !ask(
            &what,
            &format!(
                "restore {} to earlier points, replacing what they hold now (the undo bookmarks are printed)?",
                count(targets.len(), "database")
            ),
        )? {
            return Err(error("nothing restored: not confirmed"));
        }
    }
    let undo = Log::new(args.undo.as_deref())?;
    let start = Instant::now();
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(targets.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "restoring [{bar:30}] {pos}/{len} databases, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    };
    let outcomes: Vec<Outcome> = each(
        &targets,
        fleet_args.concurrency as usize,
        |(entry, to)| {
            // Our own bookmark first: the way back even if D1's answer is lost.
            let result = (|| -> d1_runtime::Result<(String, String)> {
                let before = block_on(client.bookmark(&entry.id, None))?;
                undo.add(Entry {
                    bookmark: before.clone(),
                    taken_at: now(),
                    ..entry.clone()
                })?;
                let restored = block_on(client.restore(&entry.id, to))?;
                Ok((
                    restored.bookmark,
                    undo.get(&entry.id).map_or(before, |e| e.bookmark),
                ))
            })();
            let (restored, error) = match result {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.to_string())),
            };
            Outcome {
                entry: entry.clone(),
                to: point(to),
                restored,
                error,
            }
        },
        |_| bar.inc(1),
    );
    bar.finish_and_clear();
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    if json {
        let list: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                json!({
                    "database": o.entry.database,
                    "label": o.entry.label,
                    "id": o.entry.id,
                    "restore_to": o.to,
                    "restored_to": o.restored.as_ref().map(|r| r.0.clone()),
                    "undo_bookmark": o.restored.as_ref().map(|r| r.1.clone()),
                    "error": o.error,
                })
            })
            .collect();
        println!(
            "{}",
            json!({"dry_run": false, "databases": list, "restored": outcomes.len() - failed, "failed": failed, "undo_file": args.undo, "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0})
        );
    } else {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                vec![
                    o.entry.label.clone(),
                    short_id(&o.entry.id),
                    o.restored.as_ref().map_or(String::new(), |r| r.1.clone()),
                    if o.error.is_some() {
                        "failed"
                    } else {
                        "restored"
                    }
                    .to_owned(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["DATABASE", "ID", "UNDO BOOKMARK", "STATUS"], &rows)
        );
        for o in &outcomes {
            if let Some(e) = &o.error {
                println!("{}: {}", report::escape(&o.entry.label), report::escape(e));
            }
        }
        println!(
            "{} restored, {failed} failed in {:.2} s",
            count(outcomes.len() - failed, "database"),
            start.elapsed().as_secs_f64()
        );
        match &args.undo {
            Some(file) => println!(
                "to undo: d1kit restore --remote --bookmarks {}",
                file.display()
            ),
            None => println!(
                "to undo: restore each database to its undo bookmark (--undo FILE writes them as a bookmarks file for `d1kit restore --bookmarks`)"
            ),
        }
    }
    Ok(failed > 0)
}
