//! `d1kit export --all -o DIR --remote`: a backup of every database of the fleet through
//! D1's export API (`rest::Client::export`: a SQL dump, polled for, downloaded from a signed
//! URL), one file per database (per tenant with `--tenants-in`), and `DIR/manifest.json`
//! with each file's size and SHA-256, rewritten after every file. A rerun skips the files the
//! manifest already vouches for, so an interrupted backup resumes where it stopped.
//! `d1kit export verify DIR` checks a backup against its manifest.
//!
//! The manifest: `{"version": 1, "mode": "remote", "databases": [{"database", "label", "id",
//! "file", "bytes", "sha256", "bookmark", "exported_at"}]}`.

use crate::fleet::{each, short_id, table, Backend, Fleet};
use crate::report::{self, count};
use crate::reshard::error;
use crate::restore::{now, read_entries};
use crate::tenant::write_privately;
use crate::{ExportArgs, ExportCommand, Format};
use d1_codegen::Diagnostics;
use d1_runtime::block_on;
use d1_runtime::rest::ExportOptions;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

/// The manifest's file name in the backup directory.
const MANIFEST: &str = "manifest.json";

/// One exported file, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    database: String,
    label: String,
    id: String,
    file: String,
    bytes: u64,
    sha256: String,
    bookmark: String,
    exported_at: String,
}

impl Entry {
    fn json(&self) -> Value {
        json!({
            "database": self.database,
            "label": self.label,
            "id": self.id,
            "file": self.file,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "bookmark": self.bookmark,
            "exported_at": self.exported_at,
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest of `dir`, if it has one; malformed: an error naming the entry.
fn read_manifest(dir: &Path) -> Result<Option<Vec<Entry>>, Diagnostics> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return Ok(None);
    }
    read_entries(&path, "a d1kit backup manifest", |f| {
        let file = f.text("file")?;
        // A manifest names files inside its directory only.
        if file.contains(['/', '\\']) || file.starts_with('.') || file.is_empty() {
            return Err(f.error(
                "file",
                &format!(
                    "`{}` is not a file name of the backup",
                    report::escape(&file)
                ),
            ));
        }
        Ok(Entry {
            database: f.text("database")?,
            label: f.text("label")?,
            id: f.text("id")?,
            file,
            bytes: f.number("bytes")?,
            sha256: f.text("sha256")?,
            bookmark: f.text("bookmark")?,
            exported_at: f.text("exported_at")?,
        })
    })
    .map(Some)
}

fn write_manifest(dir: &Path, entries: &[Entry]) -> std::io::Result<()> {
    let databases: Vec<Value> = entries.iter().map(Entry::json).collect();
    let mut text = serde_json::to_string_pretty(
        &json!({"version": 1, "mode": "remote", "databases": databases}),
    )
    .unwrap_or_default();
    text.push('\n');
    write_privately(&dir.join(MANIFEST), text)
}

/// Whether `entry`'s file is in `dir` with the size and checksum the manifest records; the
/// problem otherwise.
fn check(dir: &Path, entry: &Entry) -> Result<(), String> {
    let bytes = std::fs::read(dir.join(&entry.file)).map_err(|e| format!("{}: {e}", entry.file))?;
    if bytes.len() as u64 != entry.bytes {
        return Err(format!(
            "{}: {} bytes, the manifest says {}",
            entry.file,
            bytes.len(),
            entry.bytes
        ));
    }
    if sha256_hex(&bytes) != entry.sha256 {
        return Err(format!(
            "{}: its SHA-256 is not the manifest's (damaged or changed)",
            entry.file
        ));
    }
    Ok(())
}

/// `d1kit export`.
pub(crate) fn run(args: ExportArgs) -> ExitCode {
    let (format, result) = match &args.verify {
        Some(ExportCommand::Verify { dir, format }) => (*format, verify(dir, *format)),
        None => (args.fleet.format, export(&args)),
    };
    crate::fleet::exit(format, result)
}

/// `d1kit export verify DIR`: every file of the manifest present, with its size and checksum.
fn verify(dir: &Path, format: Format) -> Result<bool, Diagnostics> {
    let Some(entries) = read_manifest(dir)? else {
        return Err(error(format!(
            "{}: no {MANIFEST}: not a d1kit backup directory",
            dir.display()
        )));
    };
    let problems: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| check(dir, e).err().map(|p| (e.label.clone(), p)))
        .collect();
    if format == Format::Json {
        let list: Vec<Value> = problems
            .iter()
            .map(|(label, p)| json!({"label": label, "problem": p}))
            .collect();
        println!(
            "{}",
            json!({"verified": entries.len() - problems.len(), "files": entries.len(), "problems": list})
        );
    } else {
        for (label, p) in &problems {
            println!("{}: {}", report::escape(label), report::escape(p));
        }
        println!(
            "{}: {} of {} match the manifest",
            dir.display(),
            entries.len() - problems.len(),
            count(entries.len(), "file")
        );
    }
    Ok(!problems.is_empty())
}

/// What happened to one database.
enum Done {
    Exported(Entry),
    Kept(Entry),
    Failed(String),
}

fn export(args: &ExportArgs) -> Result<bool, Diagnostics> {
    let Some(dir) = &args.output else {
        return Err(error("pass -o DIR: the directory the backup goes to"));
    };
    if !args.fleet.remote {
        return Err(error(
            "d1kit export backs databases up through D1's export API: pass --remote",
        ));
    }
    let fleet = Fleet::load(&args.fleet, "export")?;
    let Backend::Remote(client) = &fleet.backend else {
        return Err(error("d1kit export needs --remote"));
    };
    std::fs::create_dir_all(dir).map_err(|e| error(format!("{}: {e}", dir.display())))?;
    let earlier = read_manifest(dir)?.unwrap_or_default();
    let targets: Vec<(String, d1_runtime::fleet::Target)> = fleet
        .groups
        .iter()
        .flat_map(|g| g.targets.iter().map(|t| (g.database.clone(), t.clone())))
        .collect();
    if targets.is_empty() {
        return Err(error("no databases to export"));
    }
    // The manifest so far: entries of other databases, or of files no longer sound, kept
    // as they are until this run replaces them.
    let manifest = Mutex::new(earlier.clone());
    let bar = fleet.progress("exporting");
    let start = Instant::now();
    let outcomes: Vec<Done> = each(
        &targets,
        fleet.concurrency,
        |(database, target)| {
            if let Some(e) = earlier.iter().find(|e| e.id == target.id) {
                if check(dir, e).is_ok() {
                    return Done::Kept(e.clone());
                }
            }
            let file = format!("{}.sql", file_stem(database, &target.label, &target.id));
            let exported = match block_on(client.export(&target.id, &ExportOptions::default())) {
                Ok(x) => x,
                Err(e) => return Done::Failed(e.to_string()),
            };
            if let Err(e) = write_privately(&dir.join(&file), &exported.sql) {
                return Done::Failed(format!("writing {file}: {e}"));
            }
            let entry = Entry {
                database: database.clone(),
                label: target.label.clone(),
                id: target.id.clone(),
                file,
                bytes: exported.sql.len() as u64,
                sha256: sha256_hex(&exported.sql),
                bookmark: exported.bookmark,
                exported_at: now(),
            };
            let mut entries = manifest.lock().unwrap_or_else(|e| e.into_inner());
            entries.retain(|e| e.id != entry.id);
            entries.push(entry.clone());
            if let Err(e) = write_manifest(dir, &entries) {
                return Done::Failed(format!("writing {MANIFEST}: {e}"));
            }
            Done::Exported(entry)
        },
        |_| bar.inc(1),
    );
    bar.finish_and_clear();
    let exported = outcomes
        .iter()
        .filter(|d| matches!(d, Done::Exported(_)))
        .count();
    let kept = outcomes
        .iter()
        .filter(|d| matches!(d, Done::Kept(_)))
        .count();
    let failed = outcomes.len() - exported - kept;
    let bytes: u64 = outcomes
        .iter()
        .filter_map(|d| match d {
            Done::Exported(e) => Some(e.bytes),
            _ => None,
        })
        .sum();
    if fleet.format == Format::Json {
        let list: Vec<Value> = targets
            .iter()
            .zip(&outcomes)
            .map(|((database, t), d)| match d {
                Done::Exported(e) | Done::Kept(e) => {
                    let mut v = e.json();
                    v["status"] = if matches!(d, Done::Kept(_)) { "kept" } else { "exported" }.into();
                    v
                }
                Done::Failed(why) => json!({"database": database, "label": t.label, "id": t.id, "status": "failed", "error": why}),
            })
            .collect();
        println!(
            "{}",
            json!({"directory": dir, "databases": list, "exported": exported, "kept": kept, "failed": failed, "bytes": bytes, "elapsed_ms": start.elapsed().as_secs_f64() * 1000.0})
        );
    } else {
        let rows: Vec<Vec<String>> = targets
            .iter()
            .zip(&outcomes)
            .map(|((_, t), d)| {
                let (status, file, size) = match d {
                    Done::Exported(e) => ("exported", e.file.clone(), e.bytes.to_string()),
                    Done::Kept(e) => ("kept", e.file.clone(), e.bytes.to_string()),
                    Done::Failed(_) => ("failed", String::new(), String::new()),
                };
                vec![
                    t.label.clone(),
                    short_id(&t.id),
                    file,
                    size,
                    status.to_owned(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["DATABASE", "ID", "FILE", "BYTES", "STATUS"], &rows)
        );
        for ((_, t), d) in targets.iter().zip(&outcomes) {
            if let Done::Failed(why) = d {
                println!("{}: {}", report::escape(&t.label), report::escape(why));
            }
        }
        println!(
            "{} exported ({bytes} bytes), {kept} kept from an earlier run, {failed} failed in {:.2} s; manifest: {}",
            count(exported, "database"),
            start.elapsed().as_secs_f64(),
            dir.join(MANIFEST).display()
        );
        if failed > 0 {
            println!("run the same command again: it exports only what is missing");
        }
    }
    Ok(failed > 0)
}

/// A file name for a database's dump: `<database>-<label>`, made of letters, digits, `-` and
/// `_`, with a hash of the id when the label had to change or is long, so two databases
/// never share a file.
fn file_stem(database: &str, label: &str, id: &str) -> String {
    let slug: String = label
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '-',
        })
        .take(80)
        .collect();
    let db: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if slug == label {
        format!("{db}-{slug}")
    } else {
        let hash = format!(
            "{:016x}",
            d1_runtime::route::stable_hash(format!("{label}\0{id}").as_bytes())
        );
        format!("{db}-{slug}-{}", &hash[..8])
    }
}
